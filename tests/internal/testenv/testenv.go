package testenv

import (
	"fmt"
	"os"
	"reflect"
	"strings"
)

// Env is the test env. Each field's tag names the variable it is read
// from; hack/env.vars says what each holds.
type Env struct {
	DockerContainerd   string `env:"XBUILD_TEST_DOCKER_CONTAINERD"`
	DockerClassic      string `env:"XBUILD_TEST_DOCKER_CLASSIC"`
	BuildKit           string `env:"XBUILD_TEST_BUILDKIT"`
	BuildKitTLS        string `env:"XBUILD_TEST_BUILDKIT_TLS"`
	BuildKitTLSDir     string `env:"XBUILD_TEST_BUILDKIT_TLS_DIR"`
	Containerd         string `env:"XBUILD_TEST_CONTAINERD"`
	ContainerdOfEngine string `env:"XBUILD_TEST_CONTAINERD_CONTAINERD"`
	Registry           string `env:"XBUILD_TEST_REGISTRY"`
	RegistryBin        string `env:"XBUILD_TEST_REGISTRY_BIN"`
	BaseImage          string `env:"XBUILD_TEST_BASE_IMAGE"`
	SBOMGenerator      string `env:"XBUILD_TEST_SBOM_GENERATOR"`
	BuildKitImage      string `env:"XBUILD_TEST_BUILDKIT_IMAGE"`
	Act                string `env:"XBUILD_TEST_ACT"`
	Kubeconfig         string `env:"XBUILD_TEST_KUBECONFIG"`
	KubeRegistry       string `env:"XBUILD_TEST_KUBE_REGISTRY"`
}

// Load reads the env from the process environment. Every variable is
// required: a test env that is not up is a setup error to fix, never a
// reason to skip a test, so the error names every variable that is unset
// and the commands that set them.
func Load() (Env, error) { return load(os.Getenv) }

func load(getenv func(string) string) (Env, error) {
	var e Env
	v := reflect.ValueOf(&e).Elem()
	var missing []string
	for i, name := range names() {
		val := getenv(name)
		if val == "" {
			missing = append(missing, name)
			continue
		}
		v.Field(i).SetString(val)
	}
	if len(missing) > 0 {
		return Env{}, fmt.Errorf("the test env is not up (%s unset): run `hack/env up && eval \"$(hack/env print)\"`, or `make test`",
			strings.Join(missing, ", "))
	}
	return e, nil
}

// names are the variables of Env's fields, in field order.
func names() []string {
	t := reflect.TypeFor[Env]()
	out := make([]string, t.NumField())
	for i := range t.NumField() {
		out[i] = t.Field(i).Tag.Get("env")
	}
	return out
}
