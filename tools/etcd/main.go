// Command etcd runs the etcd server from go.etcd.io/etcd/server/v3 at the version pinned in
// go.mod (the one the pinned Kubernetes release is tested with). Debian's etcd is too old for
// current Kubernetes, so the test harness builds this wrapper; it adds no behaviour of its own.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
