#!/usr/bin/python3
"""Makes the keys and tokens tests/unit/jwt_test.cpp verifies, with python3-jwt (PyJWT) and
python3-cryptography: an implementation independent of modules/auth/.

    jwt_tokens.py DIR

Writes into DIR fresh keys (hmac.key: 64 raw bytes; *.pem: public keys and a certificate) and
tokens.tsv: one "name<TAB>token" line per token, for every algorithm family:
  <alg>.valid, .expired, .not_yet_valid, .expired_5s_ago, .valid_in_5s, .wrong_issuer,
  .wrong_audience, .audience_in_array, .wrong_audience_array, .other_key, .duplicate_claim,
  .no_exp, .der_signature (ES256/ES384 only)
HS256.fractional_exp, .string_sub, .channels_not_array, .crit_header,
and none.unsigned, none.signed (alg none) and HS256.with_rsa_public_key (the key-confusion
attack: HS256 with the RSA public key's PEM as the secret). Claims: iss https://issuer.test,
aud tether, sub user-42, channels [news, user:42:*, a:*:b], publish [news], exp now + 600.
"""
import base64
import datetime
import hashlib
import hmac
import json
import os
import sys
import time

import jwt
from jwt.algorithms import get_default_algorithms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

out = sys.argv[1]
now = int(time.time())


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def write(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def public_pem(private_key):
    return private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def certificate_pem(private_key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jwt test")])
    start = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=1))
            .sign(private_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


secret, other_secret = os.urandom(64), os.urandom(64)
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
keys = {  # family -> (signing key, another key of the same kind)
    "HS": (secret, other_secret),
    "RS": (rsa_key, rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    "ES256": (ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())),
    "ES384": (ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())),
    "EdDSA": (ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()),
}
write("hmac.key", secret)
write("rsa.pem", public_pem(rsa_key))
write("rsa-cert.pem", certificate_pem(rsa_key))
write("rsa1024.pem", public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
write("p256.pem", public_pem(keys["ES256"][0]))
write("p384.pem", public_pem(keys["ES384"][0]))
write("p521.pem", public_pem(ec.generate_private_key(ec.SECP521R1())))
write("ed25519.pem", public_pem(keys["EdDSA"][0]))


def family(alg):
    return alg[:2] if alg[:2] in ("HS", "RS") else alg


def claims(**changes):
    c = {"iss": "https://issuer.test", "aud": "tether", "sub": "user-42", "iat": now, "exp": now + 600,
         "channels": ["news", "user:42:*", "a:*:b"], "publish": ["news"]}
    c.update(changes)
    return {k: v for k, v in c.items() if v is not None}


def by_hand(alg, header_json, payload_json, key):
    """A token from JSON texts as given (PyJWT would not write a duplicate member)."""
    algorithm = get_default_algorithms()[alg]
    signing_input = (b64(header_json.encode()) + "." + b64(payload_json.encode())).encode()
    return signing_input.decode() + "." + b64(algorithm.sign(signing_input, algorithm.prepare_key(key)))


tokens = {}
for alg in ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"]:
    key, other = keys[family(alg)]
    make = lambda c, k=key: jwt.encode(c, k, algorithm=alg)
    tokens[alg + ".valid"] = make(claims())
    tokens[alg + ".no_exp"] = make(claims(exp=None))
    tokens[alg + ".expired"] = make(claims(exp=now - 100))
    tokens[alg + ".not_yet_valid"] = make(claims(nbf=now + 100))
    tokens[alg + ".expired_5s_ago"] = make(claims(exp=now - 5))
    tokens[alg + ".valid_in_5s"] = make(claims(nbf=now + 5))
    tokens[alg + ".wrong_issuer"] = make(claims(iss="https://other.test"))
    tokens[alg + ".wrong_audience"] = make(claims(aud="other"))
    tokens[alg + ".audience_in_array"] = make(claims(aud=["other", "tether"]))
    tokens[alg + ".wrong_audience_array"] = make(claims(aud=["other", "more"]))
    tokens[alg + ".other_key"] = make(claims(), other)
    tokens[alg + ".duplicate_claim"] = by_hand(
        alg, json.dumps({"alg": alg, "typ": "JWT"}),
        '{"sub":"user-42","exp":%d,"aud":"tether","iss":"https://issuer.test","sub":"admin"}' % (now + 600), key)
    if alg.startswith("ES"):
        # A DER signature where JWS has r||s: the same signature, in the wrong form.
        signing_input = tokens[alg + ".valid"].rsplit(".", 1)[0]
        digest = hashes.SHA256() if alg == "ES256" else hashes.SHA384()
        tokens[alg + ".der_signature"] = signing_input + "." + b64(key.sign(signing_input.encode(), ec.ECDSA(digest)))

# Claims of the wrong type, and a header extension nobody here understands.
tokens["HS256.fractional_exp"] = jwt.encode(claims(exp=now + 600.5), secret, algorithm="HS256")
tokens["HS256.string_sub"] = jwt.encode(claims(sub=42), secret, algorithm="HS256")
tokens["HS256.channels_not_array"] = jwt.encode(claims(channels="news"), secret, algorithm="HS256")
tokens["HS256.crit_header"] = by_hand("HS256", '{"alg":"HS256","crit":["exp"]}', json.dumps(claims()), secret)

none_input = b64(b'{"alg":"none","typ":"JWT"}') + "." + b64(json.dumps(claims()).encode())
tokens["none.unsigned"] = none_input + "."
tokens["none.signed"] = none_input + "." + tokens["HS256.valid"].rsplit(".", 1)[1]
confused_input = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims()).encode())
tokens["HS256.with_rsa_public_key"] = confused_input + "." + b64(
    hmac.new(public_pem(rsa_key), confused_input.encode(), hashlib.sha256).digest())

with open(os.path.join(out, "tokens.tsv"), "w") as f:
    for name, token in tokens.items():
        f.write(name + "\t" + token + "\n")
