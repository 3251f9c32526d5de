"""Gives numpy.random.mtrand its own copy of the random distributions.

mtrand (the legacy RandomState) is built with a second copy of
distributions.c, compiled with NP_RANDOM_LEGACY (its integer results are C
long, 32 bits on wasm32, not int64). As shared modules the two copies never
meet; linked into one python.wasm they would be one symbol with two
signatures. This recompiles mtrand's objects with every function that
copy defines renamed (mtrand_<name>), as meson compiled them otherwise.

Usage: legacy.py BUILD_DIR NM HEADER
"""
import json
import os
import shlex
import subprocess
import sys

TARGET = "/mtrand.cpython-313-wasm32-wasi.so.p/"


def main(build, nm, header):
    with open(os.path.join(build, "compile_commands.json")) as f:
        cmds = [c for c in json.load(f) if TARGET in c["output"] and c["output"].endswith(".o")]
    dist = [c for c in cmds if c["output"].endswith("src_distributions_distributions.c.o")]
    if len(cmds) < 3 or len(dist) != 1:
        sys.exit("legacy.py: mtrand's objects not found in compile_commands.json")
    out = subprocess.run([nm, "--defined-only", "--extern-only", os.path.join(build, dist[0]["output"])],
                         check=True, capture_output=True, text=True).stdout
    names = sorted({line.split()[2] for line in out.splitlines() if len(line.split()) == 3 and line.split()[1] == "T"})
    names = [n.removeprefix("mtrand_") for n in names]  # a second run finds them renamed
    with open(header, "w") as f:
        for n in names:
            f.write("#define %s mtrand_%s\n" % (n, n))
    for c in cmds:
        argv = shlex.split(c["command"])
        argv[1:1] = ["-include", header]
        subprocess.run(argv, cwd=c["directory"], check=True)
    print("mtrand: %d objects recompiled, %d functions renamed" % (len(cmds), len(names)))


if __name__ == "__main__":
    main(*sys.argv[1:])
