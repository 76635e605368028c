package kubernetes

import (
	"crypto/rand"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/xbuild/xbuild/engine"
)

// scheme starts a node's endpoint: kubernetes:///BUILDER?deployment=NODE
// &kubeconfig=PATH, the form buildx keeps, so either tool finds the same
// Deployment. xbuild adds context=NAME when create was given a kubeconfig
// context; buildx ignores it and uses the current context.
const scheme = "kubernetes"

// endpoint is what a node's endpoint says about the cluster.
type endpoint struct {
	kubeconfig string
	context    string
}

// NewEndpoint is the endpoint of a new node. arg, create's endpoint
// argument, names a kubeconfig context (empty: the current one); the
// kubeconfig is KUBECONFIG as create sees it, as buildx records it.
func NewEndpoint(builder, node, arg string, getenv engine.Env) (string, error) {
	if strings.Contains(arg, "://") {
		return "", fmt.Errorf("the kubernetes driver's endpoint is a kubeconfig context name, not the address %q: give the context (see `kubectl config get-contexts`), or none for the current one", arg)
	}
	q := url.Values{"deployment": {node}, "kubeconfig": {getenv("KUBECONFIG")}}
	if arg != "" {
		q.Set("context", arg)
	}
	return (&url.URL{Scheme: scheme, Path: "/" + builder, RawQuery: q.Encode()}).String(), nil
}

func parseEndpoint(s string) (endpoint, error) {
	if s == "" {
		return endpoint{}, nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != scheme {
		return endpoint{}, fmt.Errorf("node endpoint %q is not a kubernetes:// endpoint: remove the node and append it again", s)
	}
	q := u.Query()
	return endpoint{kubeconfig: q.Get("kubeconfig"), context: q.Get("context")}, nil
}

// clientConfig loads the cluster as kubectl does: the node's kubeconfig
// when create recorded one, else KUBECONFIG's files, else ~/.kube/config;
// the recorded context, else the current one.
func (e endpoint) clientConfig(getenv engine.Env) clientcmd.ClientConfig {
	rules := &clientcmd.ClientConfigLoadingRules{}
	switch {
	case e.kubeconfig != "":
		rules.Precedence = filepath.SplitList(e.kubeconfig)
	case getenv("KUBECONFIG") != "":
		rules.Precedence = filepath.SplitList(getenv("KUBECONFIG"))
	default:
		rules.Precedence = []string{filepath.Join(getenv("HOME"), ".kube", "config")}
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: e.context})
}

// NodeName makes a node name as buildx does for this driver
// (buildkit-UUID-xxxxx, at most 63 characters), so that nodes appended to
// a builder never share a Deployment; taken reports names in use.
func NodeName(taken func(string) bool) (string, error) {
	for range 6 {
		name := generatedName("buildkit-" + uuid.NewString() + "-")
		if !taken(name) {
			return name, nil
		}
	}
	return "", fmt.Errorf("no free node name found: give one with --node")
}

func generatedName(base string) string {
	const maxLen, suffix = 63, 5
	if len(base) > maxLen-suffix {
		base = base[:maxLen-suffix]
	}
	const letters = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, suffix)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return base + string(b)
}

// deploymentName is the Deployment of a node: its name, as a Kubernetes
// name (buildx replaces '_' the same way).
func deploymentName(node string) string {
	return strings.ReplaceAll(strings.ToLower(node), "_", "-")
}
