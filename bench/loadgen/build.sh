#!/usr/bin/env bash
# Build the Go load generator: protoc plugins (pinned), Go code from proto/, then the binary.
# Generated Go code and binaries go under bench/loadgen/{gen,bin} (git-ignored): the protos in
# proto/ stay the one contract, so the Go side cannot drift from them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${PY:-$root/.venv/bin/python}"
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "loadgen: Go is required (https://go.dev/dl/ or apt-get install golang)" >&2; exit 1; }
export GOBIN="$here/bin" GOFLAGS="${GOFLAGS:--mod=mod}"
mkdir -p "$GOBIN"
[ -x "$GOBIN/protoc-gen-go" ] || go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.6
[ -x "$GOBIN/protoc-gen-go-grpc" ] || go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
mod=reelstream.dev/bench/loadgen
protos=(reelstream/common/v1/types.proto reelstream/playback/v1/events.proto
        reelstream/abr/v1/abr.proto reelstream/recommendation/v1/recommendation.proto)
maps=()
for p in "${protos[@]}"; do
  d="$(dirname "$p")"
  pkg="$(basename "$(dirname "$d")")$(basename "$d")"  # e.g. abrv1
  maps+=("M$p=$mod/gen/$d;$pkg")
done
go_opts="module=$mod$(printf ',%s' "${maps[@]}")"
rm -rf "$here/gen" && mkdir -p "$here/gen"
"$py" -m grpc_tools.protoc -I "$root/proto" \
  --plugin=protoc-gen-go="$GOBIN/protoc-gen-go" --plugin=protoc-gen-go-grpc="$GOBIN/protoc-gen-go-grpc" \
  --go_out="$here" --go_opt="$go_opts" \
  --go-grpc_out="$here" --go-grpc_opt="$go_opts" \
  "${protos[@]}"
cd "$here"
go build -o "$GOBIN/loadgen" .
echo "loadgen: built $GOBIN/loadgen" >&2
