# Receives sd_notify datagrams on a unix socket and prints one JSON line per datagram.
# Usage: python3 notify-receiver.py PATH   ("@name" binds in the abstract namespace)
import json, os, socket, sys, time

path = sys.argv[1]
addr = "\0" + path[1:] if path.startswith("@") else path
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(addr)
print(json.dumps({"bound": path}), flush=True)
while True:
    data = s.recv(4096)
    print(json.dumps({"t": time.time(), "msg": data.decode("utf-8", "replace")}), flush=True)
