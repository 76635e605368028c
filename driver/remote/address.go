package remote

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"strings"

	"github.com/moby/buildkit/client/connhelper"
	"github.com/moby/buildkit/client/connhelper/dockercontainer"
	"github.com/moby/buildkit/client/connhelper/kubepod"
	"github.com/moby/buildkit/client/connhelper/ssh"
)

// scheme is one address form the driver takes. BuildKit's client dials
// tcp:// and unix:// itself; the others go through one of BuildKit's
// connection helpers, which run a program whose standard streams reach
// `buildctl dial-stdio` beside the daemon.
type scheme struct {
	name string
	// form is the address as a user writes it, for messages.
	form string
	// program is what the helper runs; empty for schemes dialed directly.
	program string
	helper  func(*url.URL) (*connhelper.ConnectionHelper, error)
}

// schemes are buildx's remote driver's address forms but npipe://, which
// only Windows has. The helpers are named here rather than looked up in
// connhelper's own table, so which schemes the driver takes is decided in
// one place.
var schemes = []scheme{
	{name: "tcp", form: "tcp://HOST:PORT"},
	{name: "unix", form: "unix:///PATH"},
	{name: "ssh", form: "ssh://[USER@]HOST[:PORT][/SOCKET]", program: "ssh", helper: ssh.Helper},
	{name: "docker-container", form: "docker-container://CONTAINER[?context=NAME]", program: "docker", helper: dockercontainer.Helper},
	{name: "kube-pod", form: "kube-pod://POD[?namespace=NS&context=NAME&container=NAME]", program: "kubectl", helper: kubepod.Helper},
}

// Forms lists the address forms the driver takes, for messages.
func Forms() string {
	forms := make([]string, len(schemes))
	for i, s := range schemes {
		forms[i] = s.form
	}
	return strings.Join(forms, ", ")
}

// address is a node's endpoint, checked.
type address struct {
	raw    string
	url    *url.URL
	scheme scheme
	// helper dials through a program; nil for tcp:// and unix://.
	helper *connhelper.ConnectionHelper
}

// parseAddress checks an endpoint as far as can be done without reaching
// it: a known scheme, and what that scheme's helper needs in the address.
func parseAddress(raw string) (address, error) {
	if raw == "" {
		return address{}, fmt.Errorf("remote driver needs the buildkitd address: one of %s", Forms())
	}
	u, err := url.Parse(raw)
	if err != nil {
		return address{}, fmt.Errorf("remote driver address %q: %w; want one of %s", raw, err, Forms())
	}
	a := address{raw: raw, url: u}
	found := false
	for _, s := range schemes {
		if s.name == u.Scheme {
			a.scheme, found = s, true
		}
	}
	switch {
	case !found:
		return address{}, fmt.Errorf("remote driver address %q: unknown scheme %q; want one of %s", raw, u.Scheme, Forms())
	case a.scheme.helper != nil:
		if a.helper, err = a.scheme.helper(u); err != nil {
			return address{}, fmt.Errorf("remote driver address %q: %w; want %s", raw, err, a.scheme.form)
		}
	case u.Scheme == "tcp" && u.Host == "", u.Scheme == "unix" && u.Host+u.Path == "":
		return address{}, fmt.Errorf("remote driver address %q names no daemon; want %s", raw, a.scheme.form)
	}
	return a, nil
}

// findProgram looks for the helper's program, so that a missing one is
// named as such rather than as a connection the daemon dropped.
func (a address) findProgram() error {
	if _, err := exec.LookPath(a.scheme.program); err != nil {
		return fmt.Errorf("reaching %s needs %s on PATH (through it, `buildctl dial-stdio` runs beside the daemon): %w",
			a.raw, a.scheme.program, err)
	}
	return nil
}

// dialHelper connects through the scheme's program.
func (a address) dialHelper(ctx context.Context) (net.Conn, error) {
	if err := a.findProgram(); err != nil {
		return nil, err
	}
	conn, err := a.helper.ContextDialer(ctx, a.raw)
	if err != nil {
		return nil, fmt.Errorf("starting %s for %s: %w", a.scheme.program, a.raw, err)
	}
	return conn, nil
}

// dialDirect connects to a tcp:// or unix:// address.
func (a address) dialDirect(ctx context.Context) (net.Conn, error) {
	network, target := "tcp", a.url.Host
	if a.scheme.name == "unix" {
		network, target = "unix", strings.TrimPrefix(a.raw, "unix://")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, target)
	if err != nil {
		return nil, fmt.Errorf("connecting to buildkitd at %s: %w", a.raw, err)
	}
	return conn, nil
}
