#!/usr/bin/python3
"""Keys and tokens for the auth module's integration tests, made with python3-jwt (PyJWT) and
python3-cryptography: an implementation independent of modules/auth/.

    jwt_mint.py keys DIR      writes DIR/hmac.secret (48 ASCII bytes) and, per family, the
                              private key DIR/<fam>.key and the public key DIR/<fam>.pem
                              (fam: rsa, ec256, ed25519)
    jwt_mint.py tokens DIR    reads lines "name<TAB>alg<TAB>claims JSON" from stdin and prints
                              "name<TAB>token" lines. alg: HS256 (hmac.secret), RS256 (rsa),
                              ES256 (ec256), EdDSA (ed25519); "none" (unsigned);
                              "HS256-with-rsa-pem" (the key-confusion attack: HS256 with the RSA
                              public key's PEM as the secret); "<alg>-other-key" (signed with a
                              key the server does not know).
                              In the claims, "exp_in"/"nbf_in" are seconds from now (exp/nbf).
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def private_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def new_keys():
    return {"rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec256": ec.generate_private_key(ec.SECP256R1()),
            "ed25519": ed25519.Ed25519PrivateKey.generate()}


def keys(out):
    with open(os.path.join(out, "hmac.secret"), "w") as f:
        f.write(base64.urlsafe_b64encode(os.urandom(36)).decode())
    for family, key in new_keys().items():
        with open(os.path.join(out, family + ".key"), "wb") as f:
            f.write(private_pem(key))
        with open(os.path.join(out, family + ".pem"), "wb") as f:
            f.write(public_pem(key))


FAMILY = {"RS256": "rsa", "RS384": "rsa", "RS512": "rsa", "ES256": "ec256", "EdDSA": "ed25519"}


def sign(out, alg, claims, other):
    if alg == "none":
        return b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode()) + "."
    if alg == "HS256-with-rsa-pem":
        with open(os.path.join(out, "rsa.pem"), "rb") as f:
            secret = f.read()
        signing = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
        return signing + "." + b64(hmac.new(secret, signing.encode(), hashlib.sha256).digest())
    if alg.startswith("HS"):
        secret = os.urandom(48) if other else open(os.path.join(out, "hmac.secret"), "rb").read()
        return jwt.encode(claims, secret, algorithm=alg)
    family = FAMILY[alg]
    if other:
        key = new_keys()[family]
    else:
        with open(os.path.join(out, family + ".key"), "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    return jwt.encode(claims, key, algorithm=alg)


def tokens(out):
    now = int(time.time())
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            continue
        name, alg, claims_text = line.split("\t")
        claims = json.loads(claims_text)
        for relative, absolute in (("exp_in", "exp"), ("nbf_in", "nbf")):
            if relative in claims:
                claims[absolute] = now + claims.pop(relative)
        other = alg.endswith("-other-key")
        print(name + "\t" + sign(out, alg[:-len("-other-key")] if other else alg, claims, other), flush=True)


if __name__ == "__main__":
    {"keys": keys, "tokens": tokens}[sys.argv[1]](sys.argv[2])
