"""A real ESMTP server for the SMTP settings test: aiosmtpd (Debian package
python3-aiosmtpd), configured to offer STARTTLS and only AUTH LOGIN.

Usage: aiosmtpd_login.py PORT CERT KEY USER PASSWORD
Prints "ready" once listening on 127.0.0.1:PORT; stops when stdin closes.
"""
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def main():
    port, cert, key, user, password = sys.argv[1:6]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (mechanism == "LOGIN" and auth_data.login.decode() == user
              and auth_data.password.decode() == password)
        # handled=False: let aiosmtpd answer 535 itself on failure.
        return AuthResult(success=ok, handled=False)

    c = Controller(Sink(), hostname="127.0.0.1", port=int(port),
                   tls_context=ctx, require_starttls=True,
                   authenticator=authenticator, auth_require_tls=True,
                   auth_exclude_mechanism=["PLAIN"])
    c.start()
    print("ready", flush=True)
    sys.stdin.read()
    c.stop()


main()
