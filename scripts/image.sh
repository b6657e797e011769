#!/usr/bin/env bash
# Builds the container image without a registry or a daemon: an OCI image layout archive,
# build/dist/sightline_VERSION_oci.tar, FROM scratch: the package's files (scripts/package.sh)
# and the shared libraries the binary loads, one layer, reproducible (sorted, mtime 0).
#   load it: podman load -i FILE; skopeo copy oci-archive:FILE docker-daemon:sightline:VERSION;
#            ctr -n k8s.io images import FILE (the DaemonSet's image: sightline:VERSION)
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(bash scripts/package.sh | tail -1)
version=$(dpkg-deb -f "$deb" Version)
out=build/dist/sightline_${version}_oci.tar
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/rootfs
dpkg-deb -x "$deb" "$root"
rm -rf "$root/lib/systemd" "$root/usr/share/man"
# The libraries, at the paths the loader looks them up (ld.so's own path included).
while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done < <(ldd "$root/usr/bin/sightline" | grep -oE '/[^ ]+\.so[^ ]*' | sort -u)
mkdir -p "$root"/{tmp,var/lib/sightline,run/sightline,proc,sys,dev,etc}
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/usr/bin/sightline\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
python3 - "$root" "$stage/layout" "$version" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
root, layout, version = sys.argv[1:4]
def add_blob(data, media):
    d = hashlib.sha256(data).hexdigest()
    os.makedirs(f"{layout}/blobs/sha256", exist_ok=True)
    open(f"{layout}/blobs/sha256/{d}", "wb").write(data)
    return {"mediaType": media, "digest": f"sha256:{d}", "size": len(data)}
# One layer: every file, sorted, owned by root, mtime 0.
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    paths = []
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for n in sorted(dirs + files):
            paths.append(os.path.join(dirpath, n))
    for p in sorted(paths):
        info = t.gettarinfo(p, arcname=os.path.relpath(p, root))
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = 0
        if info.isfile():
            with open(p, "rb") as f:
                t.addfile(info, f)
        else:
            t.addfile(info)
tar = raw.getvalue()
layer = add_blob(gzip.compress(tar, compresslevel=6, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")
config = {
    "architecture": "amd64", "os": "linux",
    "config": {
        "Entrypoint": ["/usr/bin/sightline"],
        "Cmd": ["agent", "--config", "/etc/sightline/sightline.yaml"],
        "Env": ["PATH=/usr/bin:/bin"],
        "ExposedPorts": {"9190/tcp": {}},
        "WorkingDir": "/",
        "Labels": {"org.opencontainers.image.title": "sightline",
                   "org.opencontainers.image.description": "eBPF observability agent for Linux",
                   "org.opencontainers.image.version": version},
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
    "history": [{"created_by": "scripts/image.sh: the .deb's files and the binary's libraries"}],
}
cfg = add_blob(json.dumps(config, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json")
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": cfg, "layers": [layer]}
m = add_blob(json.dumps(manifest, sort_keys=True).encode(), "application/vnd.oci.image.manifest.v1+json")
m["annotations"] = {"org.opencontainers.image.ref.name": version,
                    "io.containerd.image.name": f"docker.io/library/sightline:{version}"}
json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [m]},
          open(f"{layout}/index.json", "w"), sort_keys=True)
json.dump({"imageLayoutVersion": "1.0.0"}, open(f"{layout}/oci-layout", "w"))
PY
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$stage/layout" -cf "$out" oci-layout index.json blobs
echo "$out"
