"""Connection secrets are sealed with a data key of their own, wrapped by the master key (a Fernet key, or
a KMS key served by moto over HTTP): the ciphertext holds no plaintext; only the same master key opens it."""

import boto3
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from optiinfra.cloud.ec2 import SIMULATOR_CREDENTIALS
from optiinfra.connections.envelope import EnvelopeCipher, FernetMasterKey, KmsMasterKey, SealError

SECRET = b'{"aws_external_id": "acme-7f3c"}'


def _fernet_cipher() -> EnvelopeCipher:
    return EnvelopeCipher(FernetMasterKey(SecretStr(Fernet.generate_key().decode())))


async def test_a_sealed_secret_opens_with_its_master_key_only() -> None:
    cipher = _fernet_cipher()
    sealed = await cipher.seal(SECRET)
    assert b"acme-7f3c" not in sealed.ciphertext and b"acme-7f3c" not in sealed.wrapped_key
    assert await cipher.unseal(sealed) == SECRET
    assert (await cipher.seal(SECRET)).wrapped_key != sealed.wrapped_key  # a data key per secret
    with pytest.raises(SealError, match="another master key"):
        await _fernet_cipher().unseal(sealed)
    altered = sealed.model_copy(update={"ciphertext": sealed.ciphertext[:-2] + b"xx"})
    with pytest.raises(SealError, match="altered"):
        await cipher.unseal(altered)
    assert repr(cipher) == "EnvelopeCipher(master=settings)"  # names where the key is, never the key


def test_a_master_key_that_is_not_a_fernet_key_is_refused() -> None:
    with pytest.raises(SealError, match="not a Fernet key"):
        FernetMasterKey(SecretStr("hunter2"))


async def test_a_kms_key_wraps_the_data_keys(moto_endpoint: str) -> None:
    kms = boto3.client(
        "kms",
        region_name="us-east-1",
        endpoint_url=moto_endpoint,
        aws_access_key_id=SIMULATOR_CREDENTIALS.access_key_id,
        aws_secret_access_key=SIMULATOR_CREDENTIALS.secret_access_key.get_secret_value(),
    )
    key_id = kms.create_key(Description="optiinfra connections")["KeyMetadata"]["KeyId"]
    cipher = EnvelopeCipher(KmsMasterKey(kms, key_id))
    sealed = await cipher.seal(SECRET)
    assert sealed.key_ref == f"kms:{key_id}"
    assert await cipher.unseal(sealed) == SECRET
    with pytest.raises(SealError, match="sealed under"):
        await _fernet_cipher().unseal(sealed)
