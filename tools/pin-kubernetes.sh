#!/usr/bin/env bash
# Re-pin tools/kube-apiserver to another Kubernetes release:  tools/pin-kubernetes.sh v1.37.2
#
# Writes go.mod from scratch: `require k8s.io/kubernetes <version>` plus one replace line for every
# staging module that release's go.mod requires at v0.0.0 (k8s.io/api, k8s.io/apiserver, ...),
# pointing at the matching published v0.<minor>.<patch> release; then `go mod tidy` fills in
# the rest and go.sum. Pin tools/etcd to the etcd version printed at the end (Kubernetes'
# build/dependencies.yaml), then run `make kube`.
set -euo pipefail
version=${1:?usage: $0 v1.MINOR.PATCH}
staging="v0.${version#v1.}"
here=$(cd "$(dirname "$0")/kube-apiserver" && pwd)
go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
cd "$here"

upstream_mod=$("$go" mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
upstream_dir=$("$go" mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
go_line=$(grep -m1 '^go ' "$upstream_mod")
godebug_line=$(grep -m1 '^godebug ' "$upstream_mod" || true)
# Staging modules: the ones upstream replaces with ./staging/src/... and requires at v0.0.0.
mapfile -t modules < <(awk '/=> \.\/staging\/src\// {print $1}' "$upstream_mod" |
  while read -r m; do grep -qE "^\s$m v0\.0\.0( |$)" "$upstream_mod" && echo "$m"; done)

{
  sed -n '1,/^module /p' go.mod
  echo
  echo "$go_line"
  [ -n "$godebug_line" ] && printf '\n%s\n' "$godebug_line"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  echo "replace ("
  for m in "${modules[@]}"; do printf '\t%s => %s %s\n' "$m" "$m" "$staging"; done
  echo ")"
} > go.mod.new
mv go.mod.new go.mod
rm -f go.sum
nice -n 19 "$go" mod tidy
echo "pinned k8s.io/kubernetes $version with ${#modules[@]} staging replaces at $staging"
echo "etcd that release is built and tested with:"
grep -A1 'name: "etcd"' "$upstream_dir/build/dependencies.yaml" | sed -n 's/^ *version: /  /p'
