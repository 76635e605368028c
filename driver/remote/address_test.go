package remote

import (
	"strings"
	"testing"

	"github.com/xbuild/xbuild/driver"
)

func TestParseAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    string // the scheme
		helper  bool
		wantErr string
	}{
		{name: "tcp", in: "tcp://10.0.0.5:1234", want: "tcp"},
		{name: "unix", in: "unix:///run/buildkit/buildkitd.sock", want: "unix"},
		{name: "ssh", in: "ssh://me@build-host:2222", want: "ssh", helper: true},
		{name: "ssh with socket", in: "ssh://build-host/run/user/1000/buildkit/buildkitd.sock", want: "ssh", helper: true},
		{name: "docker-container", in: "docker-container://buildx_buildkit_b0", want: "docker-container", helper: true},
		{name: "docker-container in a context", in: "docker-container://bk?context=arm", want: "docker-container", helper: true},
		{name: "kube-pod", in: "kube-pod://buildkitd-0?namespace=ci&context=prod&container=buildkitd", want: "kube-pod", helper: true},
		{name: "empty", in: "", wantErr: "needs the buildkitd address: one of tcp://HOST:PORT, unix:///PATH, ssh://"},
		{name: "unknown scheme", in: "http://host:1234", wantErr: `unknown scheme "http"; want one of tcp://HOST:PORT, unix:///PATH, ssh://[USER@]HOST[:PORT][/SOCKET], docker-container://CONTAINER[?context=NAME], kube-pod://`},
		{name: "no scheme", in: "host:1234", wantErr: "want one of tcp://"},
		{name: "tcp without host", in: "tcp://", wantErr: "names no daemon; want tcp://HOST:PORT"},
		{name: "unix without path", in: "unix://", wantErr: "names no daemon; want unix:///PATH"},
		{name: "ssh without host", in: "ssh:///sock", wantErr: "no host specified; want ssh://"},
		{name: "ssh password", in: "ssh://me:secret@host", wantErr: "plain-text password is not supported"},
		{name: "ssh query", in: "ssh://host?x=1", wantErr: "extra query"},
		{name: "docker-container without name", in: "docker-container://", wantErr: "url lacks container name; want docker-container://CONTAINER"},
		{name: "kube-pod without pod", in: "kube-pod://?namespace=ci", wantErr: "url lacks pod name; want kube-pod://POD"},
		{name: "kube-pod bad pod", in: "kube-pod://Pod_1", wantErr: `unsupported pod name: "Pod_1"`},
		{name: "kube-pod bad namespace", in: "kube-pod://p?namespace=A_B", wantErr: `unsupported namespace name: "A_B"`},
		{name: "kube-pod bad container", in: "kube-pod://p?container=X", wantErr: `unsupported container name: "X"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := parseAddress(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("parseAddress(%q) = %v, want an error with %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseAddress(%q) = %v", tt.in, err)
			}
			if a.scheme.name != tt.want || (a.helper != nil) != tt.helper {
				t.Errorf("parseAddress(%q) = scheme %q, helper %v; want %q, %v", tt.in, a.scheme.name, a.helper != nil, tt.want, tt.helper)
			}
		})
	}
}

// A helper scheme reaches the daemon through a program: TLS options do
// not apply, and a missing program is named before anything is dialed.
func TestHelperAddress(t *testing.T) {
	t.Parallel()
	if _, err := (Factory{}).New(t.Context(), configFor("ssh://host", map[string]string{"servername": "bk"})); err == nil ||
		!strings.Contains(err.Error(), "TLS options are for tcp:// and unix:// addresses") {
		t.Errorf("New(ssh://host, servername) = %v, want the TLS options refused", err)
	}
	a, err := parseAddress("kube-pod://buildkitd-0")
	if err != nil {
		t.Fatal(err)
	}
	a.scheme.program = "kubectl-not-installed-here"
	_, err = a.dialHelper(t.Context())
	if err == nil || !strings.Contains(err.Error(), "reaching kube-pod://buildkitd-0 needs kubectl-not-installed-here on PATH") {
		t.Errorf("dialHelper without the program = %v", err)
	}
}

func configFor(endpoint string, opts map[string]string) driver.Config {
	return driver.Config{Builder: "b", Node: "b0", Endpoint: endpoint, Options: opts}
}
