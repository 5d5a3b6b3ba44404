# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip.py script that ansible-test downloads.

ansible-test (2.19) bootstraps pip into each sanity test virtual environment with a get-pip.py
script that it downloads from a host outside the package index, unless the script already sits in
its cache as ~/.ansible/test/cache/get_pip_<pip version with underscores>.py. `make sanity` copies
this file there. It installs the pip wheel that ships with Python (ensurepip), then runs
`python -m pip install` with the arguments ansible-test passed, so pip itself still comes from the
package index.

ansible-test runs this script with a reduced environment that has no PIP_CERT or REQUESTS_CA_BUNDLE.
The script therefore passes the system CA bundle to pip explicitly. It also writes the bundle into
the virtual environment's pip.conf, which the later installs in that environment read.
"""

import ensurepip
import os
import subprocess
import sys

# Options of the real get-pip.py that `pip install` does not accept.
GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')

CA_BUNDLE_CANDIDATES = (
    '/etc/ssl/certs/ca-certificates.crt',
    '/etc/pki/tls/certs/ca-bundle.crt',
    '/etc/ssl/cert.pem',
)


def find_ca_bundle():
    """Return the path of the system CA bundle, or None when none of the known paths exists."""
    for name in ('PIP_CERT', 'REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE'):
        path = os.environ.get(name)

        if path and os.path.isfile(path):
            return path

    for path in CA_BUNDLE_CANDIDATES:
        if os.path.isfile(path):
            return path

    return None


def write_venv_pip_conf(ca_bundle):
    """Write a pip.conf that trusts ca_bundle into the running virtual environment, unless one exists."""
    if sys.prefix == sys.base_prefix:
        return

    conf_path = os.path.join(sys.prefix, 'pip.conf')

    if os.path.exists(conf_path):
        return

    with open(conf_path, 'w', encoding='utf-8') as conf_file:
        conf_file.write('[global]\ncert = %s\n' % ca_bundle)


def main():
    """Bootstrap pip from the wheel bundled with Python, then install the requested packages."""
    pip_args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]

    ensurepip.bootstrap()

    ca_bundle = find_ca_bundle()

    if ca_bundle:
        pip_args.extend(['--cert', ca_bundle])
        write_venv_pip_conf(ca_bundle)

    command = [sys.executable, '-m', 'pip', 'install'] + pip_args

    sys.exit(subprocess.call(command))


if __name__ == '__main__':
    main()
