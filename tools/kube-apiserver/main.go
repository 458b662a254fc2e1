// Command kube-apiserver runs the Kubernetes API server from the k8s.io/kubernetes module pinned
// in go.mod. No package ships a kube-apiserver binary on the registries this project can reach,
// so metalstream's tests build this wrapper instead; it adds no behaviour of its own.
package main

import (
	"os"

	// Side-effect imports the upstream binary also links in, so that flags such as
	// --logging-format=json and the version/client-go metrics behave the same in this build,
	// and time zones resolve without a system tz database.
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
