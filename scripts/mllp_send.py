#!/usr/bin/env python3
"""Send HL7 v2 files to an MLLP listener (ctml mllp) and print each ACK's MSA/ERR segments.

Usage: scripts/mllp_send.py [--host 127.0.0.1] [--port 2575] FILE...
Exit code: 0 when every message got MSA|AA, 1 otherwise, 2 on usage or connection errors.
"""
import argparse
import socket
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=2575)
    ap.add_argument("files", nargs="+", help="HL7 v2 message files (LF, CRLF or CR separated)")
    args = ap.parse_args()
    all_aa = True
    try:
        with socket.create_connection((args.host, args.port), timeout=30) as s:
            buf = b""
            for path in args.files:
                with open(path, "rb") as f:
                    msg = f.read().replace(b"\r\n", b"\r").replace(b"\n", b"\r").strip(b"\r")
                s.sendall(b"\x0b" + msg + b"\x1c\x0d")
                while b"\x1c\x0d" not in buf:
                    chunk = s.recv(65536)
                    if not chunk:
                        print("%s: connection closed without an ACK" % path, file=sys.stderr)
                        return 2
                    buf += chunk
                ack, buf = buf.split(b"\x1c\x0d", 1)
                segs = [x for x in ack.lstrip(b"\x0b").decode("latin-1").split("\r") if x]
                shown = [x for x in segs if x.startswith(("MSA|", "ERR|"))]
                print("%s: %s" % (path, "  ".join(shown)))
                all_aa = all_aa and any(x.startswith("MSA|AA|") for x in segs)
    except OSError as e:
        print("cannot talk to %s:%d: %s (is `ctml mllp` running?)" % (args.host, args.port, e),
              file=sys.stderr)
        return 2
    return 0 if all_aa else 1


if __name__ == "__main__":
    sys.exit(main())
