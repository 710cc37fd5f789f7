#!/usr/bin/python3
"""An SRTP peer built on libsrtp2 (the reference implementation), through
Debian's python3-pylibsrtp, for media's interoperability tests.

It reads one JSON request on stdin and writes JSON lines on stdout.

  {"mode": "send", "suite": S, "key": B64, "to": [HOST, PORT],
   "packets": [HEX, ...], "script": [[OP, I], ...], "mki": HEX}

protects every RTP packet with libsrtp in order, then plays the script:
  ["send", i]          the protected packet i
  ["send2", i]         packet i protected with "key2", a new master key from
                       packet "key2_from" on: a new crypto context, whose
                       rollover counter starts at zero (RFC 4568 7.1.4)
  ["forge_tag", i]     packet i with its last byte (in the tag) flipped
  ["forge_payload", i] packet i with a payload byte flipped (tag kept)
  ["replay", i]        packet i again, byte for byte
  ["clear", i]         packet i unprotected (the clear reference run)
  ["sleep", ms]
and prints {"sent": N}.

With "from": PORT, it sends from that UDP port of 127.0.0.1 (the address
its SDP named, for a receiver that latches strictly).

  {"mode": "recv", "suite": S, "key": B64, "count": N, "idle_ms": MS, "mki": HEX}

binds a UDP socket on 127.0.0.1, prints {"port": P}, receives until N
datagrams came or none came for idle_ms, unprotects each with libsrtp and
prints {"packets": [HEX of the RTP packet, or null], "errors": [...]}.
Without "key" (and "suite"), it reads them after printing the port, as a
second line {"suite": S, "key": B64}: the key of an SDP offer that names
the port.

With "mki", the MKI bytes are inserted into (send) or removed from (recv)
each packet where RFC 3711 section 3.1 places them (before the
authentication tag), since pylibsrtp does not expose libsrtp's MKI policy;
the keys and transforms stay libsrtp's.
"""

import base64
import json
import socket
import sys
import time

import pylibsrtp

SUITES = {
    "AES_CM_128_HMAC_SHA1_80": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 10),
    "AES_CM_128_HMAC_SHA1_32": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 4),
    "AEAD_AES_128_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 0),
    "AEAD_AES_256_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 0),
}


def session(req, ssrc_type):
    profile, tag = SUITES[req["suite"]]
    policy = pylibsrtp.Policy(key=base64.b64decode(req["key"]), ssrc_type=ssrc_type, srtp_profile=profile)
    return pylibsrtp.Session(policy=policy), tag


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def protect_all(req, key, clear):
    s, tag = session(dict(req, key=key), pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    mki = bytes.fromhex(req.get("mki", ""))
    prot = []
    for p in clear:
        b = bytes(s.protect(p))
        if mki:  # RFC 3711 3.1: ... payload | MKI | authentication tag
            b = b[: len(b) - tag] + mki + b[len(b) - tag:]
        prot.append(b)
    return prot


def send(req):
    clear = [bytes.fromhex(p) for p in req["packets"]]
    prot = protect_all(req, req["key"], clear)
    prot2 = []
    if req.get("key2"):
        start = req["key2_from"]
        prot2 = [None] * start + protect_all(req, req["key2"], clear[start:])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if req.get("from"):
        sock.bind(("127.0.0.1", req["from"]))
    to = (req["to"][0], req["to"][1])
    sent = 0
    for op, i in req["script"]:
        if op == "sleep":
            time.sleep(i / 1000)
            continue
        if op == "send" or op == "replay":
            b = prot[i]
        elif op == "send2":
            b = prot2[i]
        elif op == "forge_tag":
            b = bytearray(prot[i])
            b[-1] ^= 0x01
        elif op == "forge_payload":
            b = bytearray(prot[i])
            b[20] ^= 0x80
        elif op == "clear":
            b = clear[i]
        else:
            raise SystemExit("unknown op " + op)
        sock.sendto(bytes(b), to)
        sent += 1
    emit({"sent": sent})


def recv(req):
    mki = bytes.fromhex(req.get("mki", ""))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind(("127.0.0.1", 0))
    emit({"port": sock.getsockname()[1]})
    if "key" not in req:
        req.update(json.loads(sys.stdin.readline()))
    s, tag = session(req, pylibsrtp.Policy.SSRC_ANY_INBOUND)
    sock.settimeout(req.get("idle_ms", 2000) / 1000)
    out, errors = [], []
    while len(out) < req["count"]:
        try:
            b = sock.recv(2048)
        except socket.timeout:
            break
        if mki:
            at = len(b) - tag - len(mki)
            if b[at: at + len(mki)] != mki:
                out.append(None)
                errors.append("MKI %s, want %s" % (b[at: at + len(mki)].hex(), mki.hex()))
                continue
            b = b[:at] + b[at + len(mki):]
        try:
            out.append(bytes(s.unprotect(b)).hex())
        except pylibsrtp.Error as e:
            out.append(None)
            errors.append(str(e))
    emit({"packets": out, "errors": errors})


def main():
    req = json.loads(sys.stdin.readline())
    {"send": send, "recv": recv}[req["mode"]](req)


if __name__ == "__main__":
    main()
