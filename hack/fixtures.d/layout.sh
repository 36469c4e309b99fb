# Sourced by hack/fixtures and hack/critest.d/images (bash).
# An OCI image layout of directory $1 at $2 (tag "latest", one gzip layer), with image config fields $3 (JSON
# members). Content-addressed by construction: the same tree always gives the same digests (sorted entries,
# numeric owners, fixed mtimes, gzip without a timestamp).
make_layout() {
  local tree=$1 layout=$2 config_fields=$3
  [ -e "$layout/.complete" ] && return 0
  rm -rf "$layout"
  mkdir -p "$layout/blobs/sha256"
  blob() { # stdin → blob; prints "sha256:<hex> <size>"
    local tmp="$layout/blobs/.tmp"
    cat > "$tmp"
    local hex size
    hex=$(sha256sum "$tmp" | cut -d' ' -f1)
    size=$(stat -c %s "$tmp")
    mv "$tmp" "$layout/blobs/sha256/$hex"
    echo "sha256:$hex $size"
  }
  local tarball diff_id layer layer_size config config_size manifest manifest_size arch
  tarball=$(mktemp)
  tar --sort=name --numeric-owner --mtime=@0 --exclude=./.complete -C "$tree" -cf "$tarball" .
  diff_id=sha256:$(sha256sum "$tarball" | cut -d' ' -f1)
  read -r layer layer_size < <(gzip -n -c "$tarball" | blob)
  rm -f "$tarball"
  arch=$(dpkg --print-architecture)
  read -r config config_size < <(printf '{"architecture":"%s","os":"linux","config":{%s},"rootfs":{"type":"layers","diff_ids":["%s"]}}' "$arch" "$config_fields" "$diff_id" | blob)
  read -r manifest manifest_size < <(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' "$config" "$config_size" "$layer" "$layer_size" | blob)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' "$manifest" "$manifest_size" > "$layout/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
  touch "$layout/.complete"
}
