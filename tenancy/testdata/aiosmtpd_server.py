"""A real ESMTP server for the SMTP settings tests: aiosmtpd (Debian package
python3-aiosmtpd).

Usage: aiosmtpd_server.py MODE PORT CERT KEY USER PASSWORD
  MODE "login": STARTTLS required, only AUTH LOGIN offered (after STARTTLS).
  MODE "plain": no TLS at all, AUTH PLAIN and LOGIN offered in clear (a
                misconfigured server a client must not send a password to).
Prints "ready" once listening on 127.0.0.1:PORT, and "AUTH <mechanism>" for
every authentication attempt; stops when stdin closes.
"""
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def main():
    mode, port, cert, key, user, password = sys.argv[1:7]

    def authenticator(server, session, envelope, mechanism, auth_data):
        print("AUTH", mechanism, flush=True)
        ok = (auth_data.login.decode() == user
              and auth_data.password.decode() == password)
        # handled=False: let aiosmtpd answer 535 itself on failure.
        return AuthResult(success=ok, handled=False)

    if mode == "login":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        c = Controller(Sink(), hostname="127.0.0.1", port=int(port),
                       tls_context=ctx, require_starttls=True,
                       authenticator=authenticator, auth_require_tls=True,
                       auth_exclude_mechanism=["PLAIN"])
    else:
        c = Controller(Sink(), hostname="127.0.0.1", port=int(port),
                       authenticator=authenticator, auth_require_tls=False)
    c.start()
    print("ready", flush=True)
    sys.stdin.read()
    c.stop()


main()
