# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: qem_servers
short_description: Replicate servers from Qlik Enterprise Manager as inventory hosts
version_added: 0.1.0
description:
  - Reads the server list of Qlik Enterprise Manager (QEM) and adds each Replicate server as one inventory host.
  - Compose servers are left out. Replicate servers are kept when their state is one of O(states) and their name matches O(name_patterns).
  - The inventory hostname is the server name exactly as Enterprise Manager shows it, because the QEM API addresses servers by that name.
  - Every host is in the group C(qem_replicate_servers), which the playbooks of this collection target.
  - "Every host gets these variables: C(qem_server) (the server name), C(qem_server_host), C(qem_server_port), C(qem_server_platform),
    C(qem_server_version) and C(qem_server_state), from the server list."
  - "The plugin sets neither C(ansible_host) nor C(ansible_connection). Every request of this collection goes from the controller to
    Enterprise Manager, so plays run with C(connection: local) and never log in to the Replicate server itself."
  - The plugin does not pass the connection options on to the hosts. The modules read them from their own options or from the same
    E(QEM_HOST), E(QEM_USERNAME), E(QEM_PASSWORD), E(QEM_VALIDATE_CERTS) and E(QEM_CA_PATH) environment variables.
  - The inventory source is a YAML file whose name ends in C(qem_servers.yml) or C(qem_servers.yaml).
author:
  - qem.replicate maintainers (@qem-replicate)
requirements:
  - requests (Python library on the controller)
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
options:
  plugin:
    description:
      - The name of this plugin. It marks the file as a source for this plugin.
    type: str
    required: true
    choices:
      - qem.replicate.qem_servers
  host:
    description:
      - The Qlik Enterprise Manager host, as V(name), V(name:port) or V(https://name[:port]).
      - The client adds the API path C(/attunityenterprisemanager/api/v1).
      - A plain V(http://) URL works but sends credentials unencrypted, so the plugin warns.
      - Required. If not set in the inventory file, the value of the E(QEM_HOST) environment variable is used.
    type: str
    env:
      - name: QEM_HOST
  username:
    description:
      - The Enterprise Manager user, as V(DOMAIN\\user), V(user@domain), V(api-token) or V(jwt).
      - A personal access token or a JWT may also be given whole here as V(api-token:<token>) or V(jwt:<token>), with no O(password).
      - Required. If not set in the inventory file, the value of the E(QEM_USERNAME) environment variable is used.
      - The user needs the Viewer role in Enterprise Manager to list the servers.
    type: str
    env:
      - name: QEM_USERNAME
  password:
    description:
      - The password, personal access token or JWT of O(username).
      - QEM cannot accept a password that contains V(:), so such a password is rejected before any request.
      - If not set in the inventory file, the value of the E(QEM_PASSWORD) environment variable is used.
        An inline Ansible Vault value works in the inventory file.
      - The plugin never writes the password to its output, its messages or the inventory cache.
    type: str
    env:
      - name: QEM_PASSWORD
  validate_certs:
    description:
      - Whether to verify the TLS certificate of Enterprise Manager.
      - Set O(ca_path) for a certificate signed by a private CA instead of turning this off.
      - If not set in the inventory file, the value of the E(QEM_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
    env:
      - name: QEM_VALIDATE_CERTS
  ca_path:
    description:
      - A PEM file with the CA certificates that verify the Enterprise Manager certificate.
      - If not set in the inventory file, the value of the E(QEM_CA_PATH) environment variable is used, then the system trust store.
    type: path
    env:
      - name: QEM_CA_PATH
  request_timeout:
    description:
      - Seconds to wait for Enterprise Manager to accept a connection and to answer a read.
    type: float
    default: 60
  states:
    description:
      - Keep only the Replicate servers in these states.
      - A Replicate server that matches O(name_patterns) but is left out because it is in V(ERROR) or V(NOT_MONITORED)
        gives a warning that names it and its state, so a server that is down or not monitored does not drop out of a run unnoticed.
    type: list
    elements: str
    choices:
      - MONITORED
      - ERROR
      - NOT_MONITORED
    default:
      - MONITORED
  name_patterns:
    description:
      - Keep only the servers whose name matches at least one of these patterns. An empty list keeps every name.
      - The patterns work as in Ansible host patterns. A pattern is shell-style (V(*), V(?), V([seq])) and must match the whole name.
        A pattern that starts with V(~) is a Python regular expression that must match at the start of the name.
      - Matching is case-sensitive, as QEM server names are.
    type: list
    elements: str
    default: []
notes:
  - The inventory hostname is the QEM server name, spaces included, and Ansible accepts it as is.
    Ansible's host patterns split at commas, colons and spaces, so to limit a run to such a server, use a pattern
    without those characters, for example C(--limit 'rep?east*') for C(rep east 01), or its group.
  - Keyed groups are named after values such as the platform, state and version, and Ansible replaces the characters
    that are invalid in group names (dots and spaces included) with underscores.
  - "With O(cache=true), the plugin caches the whole server list, Compose servers included, for the inventory file, QEM host and user.
    It caches only the type, name, host, port, state, platform and version of each server.
    Within O(cache_timeout), later runs send no request to QEM, and changes to O(states), O(name_patterns) and the constructed options
    apply to the cached list. C(ansible-inventory --flush-cache) or C(meta: refresh_inventory) reads the list again."
  - A failed QEM request fails this inventory source with the client's message. By default Ansible then only warns and goes on
    with the other sources. Set C(inventory_any_unparsed_is_failed=true) in the C([inventory]) section of C(ansible.cfg) to stop instead.
"""

EXAMPLES = r"""
# qem.qem_servers.yml: every monitored Replicate server. The connection comes from
# QEM_HOST, QEM_USERNAME, QEM_PASSWORD and QEM_CA_PATH, as for the modules.
#
#   plugin: qem.replicate.qem_servers
#
# cached.qem_servers.yml: reuse the server list read from QEM for up to one hour.
#
#   plugin: qem.replicate.qem_servers
#   cache: true
#   cache_plugin: ansible.builtin.jsonfile
#   cache_connection: ~/.cache/ansible/qem_inventory
#   cache_timeout: 3600

# prod.qem_servers.yml: the production servers, with groups by platform, state and version.
plugin: qem.replicate.qem_servers
host: qem.example.com
username: CORP\svc_qem
ca_path: /etc/pki/qem/enterprise-manager-ca.pem
states:
  - MONITORED
  - ERROR
name_patterns:
  - rep-prod-*
  - '~rep-(eu|us)-[0-9]+$'
keyed_groups:
  - key: qem_server_platform | lower
    prefix: qem_platform
  - key: qem_server_state | lower
    prefix: qem_state
  - key: qem_server_version
    prefix: qem_version
groups:
  qem_windows: qem_server_platform == 'WINDOWS'
compose:
  qem_server_major: qem_server_version.split('.')[0]
"""

import fnmatch
import hashlib
import re

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.qem.replicate.plugins.module_utils.client import QemClient, QemError, QemInputError

GROUP = "qem_replicate_servers"
REPLICATE_TYPE = "ReplicateServerInfo"
LEFT_OUT_STATES_WARNED = ("ERROR", "NOT_MONITORED")

# Fields of a server list entry that the plugin uses, and so the only ones it caches.
SERVER_FIELDS = ("$type", "name", "host", "port", "state", "platform", "version")

# Host variable name -> server list field.
HOST_VARIABLES = (
    ("qem_server_host", "host"),
    ("qem_server_port", "port"),
    ("qem_server_platform", "platform"),
    ("qem_server_version", "version"),
    ("qem_server_state", "state"),
)


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Adds the Replicate servers that Qlik Enterprise Manager lists as inventory hosts."""

    NAME = "qem.replicate.qem_servers"

    def verify_file(self, path):
        """Accept readable files whose name ends in qem_servers.yml or qem_servers.yaml."""
        if not super(InventoryModule, self).verify_file(path):
            return False
        return to_text(path).endswith(("qem_servers.yml", "qem_servers.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        name_matchers = _compile_name_patterns(self.get_option("name_patterns"))

        servers = self._server_list(path, cache)

        self._populate(servers, name_matchers)

    def _server_list(self, path, cache):
        """Return the server list from the inventory cache or from QEM, and store a list read from QEM when the cache option is on.

        Ansible passes ``cache`` as false to request fresh data (``--flush-cache``, ``meta: refresh_inventory``).
        """
        use_cache = self.get_option("cache")
        cache_key = self._cache_key(path)

        if use_cache and cache:
            try:
                servers = self._cache[cache_key]
            except KeyError:
                pass
            else:
                if isinstance(servers, list):
                    self.display.vvv("qem_servers: using the cached server list of %s" % path)
                    return servers

        servers = self._fetch_servers()
        if use_cache:
            self._cache[cache_key] = servers
        return servers

    def _cache_key(self, path):
        """Return the cache key of this inventory file, QEM host and user, so that one cache never serves another QEM."""
        identity = u"%s\n%s" % (self.get_option("host") or "", self.get_option("username") or "")
        digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:12]
        return "%s_%s" % (self.get_cache_key(path), digest)

    def _fetch_servers(self):
        """Log in to QEM, read the server list and return its entries reduced to SERVER_FIELDS."""
        username = self.get_option("username")
        password = self.get_option("password")
        if password is not None:
            # An inline vault value arrives as an encrypted-string object, so it is converted to the plain text the client sends.
            password = to_text(password)
        if password is None and not _is_token_user(username):
            raise AnsibleParserError("The QEM password is missing. Set password in the inventory file (an inline Ansible Vault value works) "
                                     "or the QEM_PASSWORD environment variable.")

        try:
            client = QemClient(
                host=self.get_option("host"),
                username=username,
                password=password,
                validate_certs=self.get_option("validate_certs"),
                ca_path=self.get_option("ca_path"),
                request_timeout=self.get_option("request_timeout"),
                pool_size=1,
                warn=self.display.warning,
            )
            with client:
                servers = client.list_servers()
        except QemInputError as error:
            raise AnsibleParserError(to_native(error))
        except QemError as error:
            raise AnsibleParserError("Could not read the server list from QEM host '%s': %s" % (self.get_option("host"), to_native(error)))

        return [dict((key, server.get(key)) for key in SERVER_FIELDS) for server in servers]

    def _populate(self, servers, name_matchers):
        """Add the selected servers as hosts, with their variables and the constructed groups."""
        states = [to_text(state) for state in self.get_option("states")]
        strict = self.get_option("strict")
        left_out = []
        added = 0

        self.inventory.add_group(GROUP)
        for server in sorted(servers, key=lambda entry: to_text(entry.get("name") or "")):
            name = server.get("name")
            if not name:
                continue
            name = to_text(name)
            if server.get("$type") != REPLICATE_TYPE:
                self.display.vvv("qem_servers: left out server '%s' of type %s; only Replicate servers are hosts." % (name, server.get("$type")))
                continue
            if not _matches_any(name, name_matchers):
                self.display.vvv("qem_servers: left out server '%s'; its name matches none of name_patterns." % name)
                continue
            state = to_text(server.get("state") or "")
            if state not in states:
                left_out.append((name, state))
                continue

            self._add_server(name, server, strict)
            added += 1

        warned = ["'%s' (%s)" % (name, state) for name, state in left_out if state in LEFT_OUT_STATES_WARNED]
        if warned:
            self.display.warning("qem_servers: Replicate servers left out of the inventory because of their state: %s. "
                                 "Check them in Enterprise Manager, or add their state to the states option to include them."
                                 % ", ".join(warned))
        for name, state in left_out:
            if state not in LEFT_OUT_STATES_WARNED:
                self.display.vvv("qem_servers: left out server '%s' in state %s." % (name, state))
        if not added:
            self.display.warning("qem_servers: no Replicate server of QEM host '%s' is in the states %s and matches the name_patterns, "
                                 "so the group %s is empty." % (self.get_option("host"), ", ".join(states), GROUP))

    def _add_server(self, name, server, strict):
        """Add one server as a host in GROUP, set its variables, then apply compose, groups and keyed_groups."""
        self.inventory.add_host(name, group=GROUP)
        host_vars = {"qem_server": name}
        for variable, field in HOST_VARIABLES:
            host_vars[variable] = server.get(field)
        for variable, value in host_vars.items():
            self.inventory.set_variable(name, variable, value)

        self._set_composite_vars(self.get_option("compose"), host_vars, name, strict=strict)
        self._add_host_to_composed_groups(self.get_option("groups"), host_vars, name, strict=strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), host_vars, name, strict=strict)


def _compile_name_patterns(patterns):
    """Compile name_patterns as Ansible host patterns: shell-style over the whole name, or a regex after '~' matched at the start."""
    matchers = []
    for pattern in patterns or []:
        pattern = to_text(pattern)
        if pattern.startswith("~"):
            expression = pattern[1:]
        else:
            expression = fnmatch.translate(pattern)
        try:
            matchers.append(re.compile(expression))
        except re.error as error:
            raise AnsibleParserError("name_patterns entry '%s' is not a valid regular expression (%s). "
                                     "Fix the expression, or drop the leading '~' for a shell-style pattern." % (pattern, error))
    return matchers


def _matches_any(name, matchers):
    if not matchers:
        return True
    return any(matcher.match(name) for matcher in matchers)


def _is_token_user(username):
    """Return whether the username carries a personal access token or JWT itself, so no password is needed."""
    text = to_text(username or "")
    return ":" in text and text.split(":", 1)[0].lower() in ("api-token", "jwt")
