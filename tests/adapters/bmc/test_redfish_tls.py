"""Redfish over HTTPS: certificate verification on, off, and with the BMC's CA."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.bmc import addresses, errors
from adapters.bmc.credentials import Credentials
from adapters.bmc.redfish import RedfishClient
from metalstream.devstack.sushy import SushyEmulator, TlsFiles
from tests.adapters.bmc.conftest import PASSWORD, USER, fake_system

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1, as many BMCs ship."""
    directory = tmp_path_factory.mktemp("bmc-tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-bmc")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(certificate=directory / "bmc.crt", key=directory / "bmc.key")
    files.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def https_sushy(tls_files: TlsFiles) -> AsyncIterator[SushyEmulator]:
    async with SushyEmulator([fake_system(0)], users={USER: PASSWORD}, tls=tls_files) as emulator:
        yield emulator


async def test_an_untrusted_certificate_is_a_tls_error(https_sushy: SushyEmulator) -> None:
    access = addresses.parse(https_sushy.address(https_sushy.systems[0]))
    assert access.redfish_address.startswith("https://")
    async with RedfishClient.for_access(access, Credentials(USER, PASSWORD)) as client:
        with pytest.raises(errors.BmcTlsVerificationFailed) as caught:
            await client.validate_access()

    assert caught.value.kind == "permanent"
    assert "disableCertificateVerification" in str(caught.value)


async def test_disabling_certificate_verification_connects(https_sushy: SushyEmulator) -> None:
    access = addresses.parse(
        https_sushy.address(https_sushy.systems[0]), disable_certificate_verification=True
    )
    async with RedfishClient.for_access(access, Credentials(USER, PASSWORD)) as client:
        info = await client.validate_access()

    assert info.system_id == https_sushy.systems[0].path


async def test_the_bmcs_ca_bundle_makes_it_trusted(https_sushy: SushyEmulator, tls_files: TlsFiles) -> None:
    access = addresses.parse(https_sushy.address(https_sushy.systems[0]))
    client = RedfishClient(
        base_url=access.redfish_address,
        system_id=access.redfish_system_id,
        credentials=Credentials(USER, PASSWORD),
        verify=str(tls_files.certificate),
    )
    async with client:
        assert (await client.validate_access()).system_id == https_sushy.systems[0].path


async def test_plain_http_to_an_https_bmc_is_not_mistaken_for_bad_credentials(
    https_sushy: SushyEmulator,
) -> None:
    client = RedfishClient(
        base_url=f"http://{https_sushy.host}",
        system_id=fake_system(0).path,
        credentials=Credentials(USER, PASSWORD),
    )
    async with client:
        with pytest.raises(errors.BmcError) as caught:
            await client.validate_access()

    assert not isinstance(caught.value, errors.BmcAuthenticationFailed)
