package builder

import (
	"context"
	"strings"
	"testing"

	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	spb "github.com/moby/buildkit/sourcepolicy/pb"
	"github.com/moby/buildkit/sourcepolicy/policysession"
)

func TestParsePolicyFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, wantErr string
	}{
		{name: "valid", in: "package docker\n\ndefault allow := true\n\ndecision := {\"allow\": allow}\n"},
		{name: "eof", in: "package docker\nallow if {\n", wantErr: "parsing policy file p.rego: line 3: "},
		{name: "no package", in: "allow := true\n", wantErr: "parsing policy file p.rego: line 1: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := ParsePolicyFile("p.rego", []byte(tc.in))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("ParsePolicyFile() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n")):
				t.Fatalf("ParsePolicyFile() = %q, want one line starting %q", err, tc.wantErr)
			}
		})
	}
}

func decideFor(t *testing.T, cb policysession.PolicyCallback, ref string) *policysession.DecisionResponse {
	t.Helper()
	d, next, err := cb(context.Background(), &policysession.CheckPolicyRequest{
		Platform: &pb.Platform{OS: "linux", Architecture: "amd64"},
		Source:   &gwpb.ResolveSourceMetaResponse{Source: &pb.SourceOp{Identifier: ref}},
	})
	if err != nil || next != nil {
		t.Fatalf("policy check of %s = %v, %v", ref, next, err)
	}
	return d
}

func policyCallback(t *testing.T, p *Policy, own policysession.PolicyCallback) (policysession.PolicyCallback, bool) {
	t.Helper()
	cb, proxy, err := p.callback(context.Background(), nil, nil, own)
	if err != nil {
		t.Fatalf("callback() = %v", err)
	}
	return cb, proxy
}

// A policy sees the request's build arguments and denies with its message;
// the request's own check runs after it.
func TestNewPolicyAndComposition(t *testing.T) {
	t.Parallel()
	rego := `package docker

default allow := false

allow if input.env.args.ALLOWED == "yes"

deny_msg contains "not allowed" if not allow

decision := {"allow": allow, "deny_msg": deny_msg}
`
	sets := []PolicySet{{Files: []PolicyFile{{Name: "p.rego", Data: []byte(rego)}}}}
	req := &Request{BuildArgs: map[string]string{"ALLOWED": "no"}}
	cb, _ := policyCallback(t, NewPolicy(req, sets, PolicyOptions{ConfigDir: t.TempDir()}), nil)
	d := decideFor(t, cb, "local://context")
	if d.Action != spb.PolicyAction_DENY || len(d.DenyMessages) != 1 || d.DenyMessages[0].Message != "not allowed" {
		t.Fatalf("decision = %v, want DENY with its message", d)
	}

	req = &Request{BuildArgs: map[string]string{"ALLOWED": "yes"}}
	called := false
	own := func(context.Context, *policysession.CheckPolicyRequest) (*policysession.DecisionResponse, *gwpb.ResolveSourceMetaRequest, error) {
		called = true
		return &policysession.DecisionResponse{Action: spb.PolicyAction_DENY}, nil, nil
	}
	cb, _ = policyCallback(t, NewPolicy(req, sets, PolicyOptions{ConfigDir: t.TempDir()}), own)
	if d := decideFor(t, cb, "local://context"); d.Action != spb.PolicyAction_DENY || !called {
		t.Errorf("composed decision = %v (replay check called: %v), want DENY from the replay check", d, called)
	}
}

// A policy's caps turn on the network proxy when one of the policies asks
// for exec.proxy, except buildx's default policy, which is not asked; an
// unknown cap fails.
func TestPolicyCaps(t *testing.T) {
	t.Parallel()
	withCaps := func(caps string) PolicyFile {
		return PolicyFile{Name: "p.rego", Data: []byte("package docker\n\ndecision := {\"allow\": true, \"caps\": " + caps + "}\n")}
	}
	tests := []struct {
		name      string
		sets      []PolicySet
		wantProxy bool
		wantErr   string
	}{
		{name: "none", sets: []PolicySet{{Files: []PolicyFile{withCaps("{}")}}}},
		{name: "off", sets: []PolicySet{{Files: []PolicyFile{withCaps(`{"exec.proxy": false}`)}}}},
		{name: "one of two", sets: []PolicySet{{Files: []PolicyFile{withCaps(`{"exec.proxy": false}`)}}, {Files: []PolicyFile{withCaps(`{"exec.proxy": true}`)}}}, wantProxy: true},
		{name: "not asked", sets: []PolicySet{{Files: []PolicyFile{withCaps(`{"exec.proxy": true}`)}, NoCaps: true}}},
		{name: "unknown", sets: []PolicySet{{Files: []PolicyFile{withCaps(`{"exec.magic": true}`)}}}, wantErr: `evaluating policy caps: unknown policy cap "exec.magic"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := NewPolicy(&Request{}, tc.sets, PolicyOptions{ConfigDir: t.TempDir()})
			_, proxy, err := p.callback(context.Background(), nil, nil, nil)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("callback() = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || proxy != tc.wantProxy {
				t.Errorf("callback() = proxy %v, %v; want proxy %v", proxy, err, tc.wantProxy)
			}
		})
	}
}
