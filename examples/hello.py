"""A first Grid-X job: prints to both streams, reads its arguments, shows where it ran, returns a file."""
import os
import platform
import sys
import time

print(f"Hello from Grid-X! Python {platform.python_version()} on {platform.machine()}")
print(f"arguments: {sys.argv[1:]}")
print(f"running as uid {os.getuid()} in {os.getcwd()}")
print("network interfaces:", sorted(os.listdir("/sys/class/net")))
for i in range(3):
    print(f"working... step {i + 1}/3", flush=True)
    time.sleep(0.3)
print("this line goes to stderr", file=sys.stderr)
# Files written under /out ($GRIDX_OUTPUT) come back to ./gridx-out/<job id>/ on the submitter.
with open(os.path.join(os.environ.get("GRIDX_OUTPUT", "/out"), "hello.txt"), "w") as f:
    f.write(f"Hello from job {os.environ.get('GRIDX_JOB_ID')} with arguments {sys.argv[1:]}\n")
print("done")
