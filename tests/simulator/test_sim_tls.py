"""TLS: the simulator's own CA, the server certificate and the plain-HTTP option."""

import os
import socket
import ssl
import stat

import pytest
import requests
import urllib3
from cryptography import x509
from qem_simulator import Simulator

SCENARIO = {"servers": [{"name": "rep-01"}]}


def get(url, **kwargs):
    """GET without the environment's CA bundle and proxy settings."""
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, timeout=5, **kwargs)


def test_default_trust_fails(qem_sim):
    sim = qem_sim(SCENARIO)
    with pytest.raises(requests.exceptions.SSLError):
        get(f"{sim.base_url}/login", auth=(sim.username, sim.password), verify=True)


def test_ca_path_succeeds(qem_sim):
    sim = qem_sim(SCENARIO)
    response = get(f"{sim.base_url}/login", auth=(sim.username, sim.password), verify=sim.ca_path)
    assert response.status_code == 200


def test_localhost_name_verifies(qem_sim):
    sim = qem_sim(SCENARIO)
    url = f"https://localhost:{sim.port}/attunityenterprisemanager/api/v1/login"
    response = get(url, auth=(sim.username, sim.password), verify=sim.ca_path)
    assert response.status_code == 200


def test_verify_off_works(qem_sim):
    sim = qem_sim(SCENARIO)
    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
        response = get(f"{sim.base_url}/login", auth=(sim.username, sim.password), verify=False)
    assert response.status_code == 200


def test_strict_verification_accepts_chain(qem_sim):
    sim = qem_sim(SCENARIO)
    context = ssl.create_default_context(cafile=sim.ca_path)
    context.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as connection:
        assert connection.version() in ("TLSv1.2", "TLSv1.3")


def test_certificate_covers_both_names(qem_sim):
    sim = qem_sim(SCENARIO)
    pem = ssl.get_server_certificate(("127.0.0.1", sim.port))
    names = x509.load_pem_x509_certificate(pem.encode()).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(address) for address in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_state_dir_files(qem_sim, tmp_path):
    sim = qem_sim(SCENARIO, state_dir=str(tmp_path / "state"))
    assert os.path.dirname(sim.ca_path) == str(tmp_path / "state")
    assert sorted(os.listdir(tmp_path / "state")) == ["ca.pem", "server-key.pem", "server.pem"]
    assert stat.S_IMODE(os.stat(tmp_path / "state" / "server-key.pem").st_mode) == 0o600


def test_own_temp_dir_removed():
    with Simulator(SCENARIO) as sim:
        ca_path = sim.ca_path
        assert os.path.exists(ca_path)
    assert not os.path.exists(ca_path)


def test_plain_http_option(qem_sim):
    sim = qem_sim(SCENARIO, tls=False)
    response = get(f"{sim.base_url}/login", auth=(sim.username, sim.password))
    assert sim.base_url.startswith("http://127.0.0.1:")
    assert sim.ca_path is None
    assert response.status_code == 200


def test_plain_client_does_not_block(qem_sim):
    sim = qem_sim(SCENARIO)
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as idle:
        idle.sendall(b"GET / HTTP/1.1\r\n\r\n")
        response = get(f"{sim.base_url}/login", auth=(sim.username, sim.password), verify=sim.ca_path)
    assert response.status_code == 200
