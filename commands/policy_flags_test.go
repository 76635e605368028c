package commands

import (
	"strings"
	"testing"

	pb "github.com/moby/buildkit/sourcepolicy/pb"
	"github.com/moby/buildkit/sourcepolicy/policysession"

	"github.com/xbuild/xbuild/builder"
)

func TestComposePolicies(t *testing.T) {
	t.Parallel()
	def := []builder.PolicyFile{{Name: "Dockerfile.rego", Data: []byte("package docker")}}
	tests := []struct {
		name     string
		defaults []builder.PolicyFile
		in       []string
		want     string // sets as "file+file:strict:level", joined by " | "
		wantErr  string
	}{
		{name: "nothing", want: ""},
		{name: "default only", defaults: def, want: "Dockerfile.rego:false:"},
		{name: "file added to default", defaults: def, in: []string{"filename=a.rego"}, want: "Dockerfile.rego:false: | a.rego:false:"},
		{name: "two files one policy", in: []string{"filename=a.rego,filename=b.rego"}, want: "a.rego+b.rego:false:"},
		{name: "reset drops default", defaults: def, in: []string{"reset=true,filename=a.rego"}, want: "a.rego:false:"},
		{name: "settings change last", defaults: def, in: []string{"strict=true,log-level=debug"}, want: "Dockerfile.rego:true:debug"},
		{name: "settings wait for next", in: []string{"strict=true", "filename=a.rego"}, want: "a.rego:true:"},
		{name: "disabled", defaults: def, in: []string{"disabled=true"}, want: ""},
		{name: "disabled with more", in: []string{"disabled=true,strict=true"}, wantErr: "disabled policy cannot be combined with other policy flags"},
		{name: "disabled twice", in: []string{"disabled=true", "filename=a.rego"}, wantErr: "disabled policy cannot be combined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfgs, err := parsePolicyFlags(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := composePolicies(tc.defaults, cfgs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("composePolicies(%q) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := describeSets(got); s != tc.want {
				t.Errorf("composePolicies(%q) = %q, want %q", tc.in, s, tc.want)
			}
		})
	}
}

func describeSets(sets []builder.PolicySet) string {
	var out []string
	for _, s := range sets {
		var names []string
		for _, f := range s.Files {
			names = append(names, f.Name)
		}
		level := ""
		if s.LogLevel != nil {
			level = s.LogLevel.String()
		}
		out = append(out, strings.Join(names, "+")+":"+map[bool]string{true: "true", false: "false"}[s.Strict]+":"+level)
	}
	return strings.Join(out, " | ")
}

func TestParsePolicyFlagsInvalid(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"nosuch=1", "filename=", "strict=maybe", "log-level=loud", "plain"} {
		if _, err := parsePolicyFlags([]string{in}); err == nil || !strings.HasPrefix(err.Error(), `invalid --policy "`+in+`"`) {
			t.Errorf("parsePolicyFlags(%q) error = %v, want one naming the value", in, err)
		}
	}
}

func TestBakePolicyOverrides(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []string
		want    string
		wantErr string
	}{
		{name: "none"},
		{name: "settings", in: []string{"strict=true", "log-level=info"}, want: "*.policy+=strict=true *.policy+=log-level=info"},
		{name: "disabled", in: []string{"disabled=true"}, want: "*.policy=disabled=true"},
		{name: "filename", in: []string{"filename=a.rego"}, wantErr: "--policy does not accept filename; define policy files in the bake definition"},
		{name: "reset", in: []string{"reset=true"}, wantErr: "--policy does not accept reset; define policy composition in the bake definition"},
		{name: "disabled with more", in: []string{"disabled=true", "strict=true"}, wantErr: "disabled policy cannot be combined with other policy flags"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := bakePolicyOverrides(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("bakePolicyOverrides(%q) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, " ") != tc.want {
				t.Errorf("bakePolicyOverrides(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestDefaultPolicyName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ctx, dockerfile, want string
	}{
		{ctx: "app", want: "app/Dockerfile.rego"},
		{ctx: "app", dockerfile: "build/app.Dockerfile", want: "build/app.Dockerfile.rego"},
		{ctx: "app", dockerfile: "-"},
		{ctx: "-"},
		{ctx: "https://github.com/a/b.git"},
		{ctx: "https://github.com/a/b.git", dockerfile: "sub/Dockerfile"},
	}
	for _, tc := range tests {
		req := &builder.Request{Context: tc.ctx, Dockerfile: tc.dockerfile}
		if got := defaultPolicyName(req, localContextDir(req)); got != tc.want {
			t.Errorf("defaultPolicyName(%q, %q) = %q, want %q", tc.ctx, tc.dockerfile, got, tc.want)
		}
	}
}

func TestDecisionError(t *testing.T) {
	t.Parallel()
	deny := func(msgs ...string) *policysession.DecisionResponse {
		d := &policysession.DecisionResponse{Action: pb.PolicyAction_DENY}
		for _, m := range msgs {
			d.DenyMessages = append(d.DenyMessages, &policysession.DenyMessage{Message: m})
		}
		return d
	}
	tests := []struct {
		name string
		in   *policysession.DecisionResponse
		want string
	}{
		{name: "allow", in: &policysession.DecisionResponse{Action: pb.PolicyAction_ALLOW}},
		{name: "convert", in: &policysession.DecisionResponse{Action: pb.PolicyAction_CONVERT}},
		{name: "deny", in: deny(), want: "policy denied"},
		{name: "deny with messages", in: deny("a", "", "b"), want: "policy denied: a; b"},
		{name: "none", want: "policy returned no decision"},
	}
	for _, tc := range tests {
		err := decisionError(tc.in)
		if got := ""; err != nil {
			got = err.Error()
			if got != tc.want {
				t.Errorf("%s: decisionError() = %q, want %q", tc.name, got, tc.want)
			}
		} else if tc.want != "" {
			t.Errorf("%s: decisionError() = nil, want %q", tc.name, tc.want)
		}
	}
}

func TestParsePolicySource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "docker-image://busybox", want: "docker-image://docker.io/library/busybox:latest"},
		{in: "docker-image://Bad", wantErr: "failed to parse image source reference"},
		{in: "https://example.com/file.tar", want: "https://example.com/file.tar"},
		{in: "https://github.com/moby/buildkit.git", want: "git://https://github.com/moby/buildkit.git"},
		{in: ".", want: "local://context"},
		{in: "/no/such/dir", wantErr: "invalid local path /no/such/dir"},
	}
	for _, tc := range tests {
		got, err := parsePolicySource(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parsePolicySource(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
		case err != nil || got.Identifier != tc.want:
			t.Errorf("parsePolicySource(%q) = %v, %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestPartitionFields(t *testing.T) {
	t.Parallel()
	reload, invalid := partitionFields([]string{"image.labels", "image.provenance.materials[0]", "nosuch"}, []string{"image.labels", "image.provenance"})
	if strings.Join(reload, ",") != "image.labels,image.provenance" || strings.Join(invalid, ",") != "nosuch" {
		t.Errorf("partitionFields() = %q, %q", reload, invalid)
	}
}

func TestPolicySchema(t *testing.T) {
	t.Parallel()
	s := policySchema()
	defs := s["$defs"].(map[string]any)
	for _, name := range []string{"Input", "Image", "Git", "HTTP", "Env", "Decision"} {
		if _, ok := defs[name]; !ok {
			t.Errorf("policySchema() has no $defs.%s", name)
		}
	}
	img := defs["Image"].(map[string]any)["properties"].(map[string]any)
	if img["repo"].(map[string]any)["type"] != "string" {
		t.Errorf("policySchema() Image.repo = %v, want a string", img["repo"])
	}
	if s["$ref"] != "#/$defs/Input" {
		t.Errorf("policySchema() $ref = %v", s["$ref"])
	}
}
