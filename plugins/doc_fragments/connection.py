# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  host:
    description:
      - The Qlik Enterprise Manager host, as V(name), V(name:port) or V(https://name[:port]).
      - The client adds the API path C(/attunityenterprisemanager/api/v1).
      - A plain V(http://) URL works but sends credentials unencrypted, so the module warns.
      - If not set, the value of the E(QEM_HOST) environment variable is used.
    type: str
    required: true
  username:
    description:
      - The Enterprise Manager user, as V(DOMAIN\\user), V(user@domain), V(api-token) or V(jwt).
      - A personal access token or a JWT may also be given whole here as V(api-token:<token>) or V(jwt:<token>), with no O(password).
      - If not set, the value of the E(QEM_USERNAME) environment variable is used.
    type: str
    required: true
  password:
    description:
      - The password, personal access token or JWT of O(username).
      - QEM cannot accept a password that contains V(:); such a password is rejected before any request.
      - If not set, the value of the E(QEM_PASSWORD) environment variable is used.
    type: str
  validate_certs:
    description:
      - Whether to verify the TLS certificate of Enterprise Manager.
      - Set O(ca_path) for a certificate signed by a private CA instead of turning this off.
      - If not set, the value of the E(QEM_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file with the CA certificates that verify the Enterprise Manager certificate.
      - If not set, the value of the E(QEM_CA_PATH) environment variable is used, then the system trust store.
    type: path
  request_timeout:
    description:
      - Seconds to wait for Enterprise Manager to accept a connection and to answer a read.
      - Stop and run requests wait this long plus the QEM-side timeout.
    type: float
    default: 60
  server:
    description:
      - The Replicate server's name as Enterprise Manager shows it.
    type: str
    required: true
requirements:
  - requests (Python library on the controller)
"""
