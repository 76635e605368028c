package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/platforms"
	"github.com/docker/buildx/policy"
	"github.com/docker/buildx/util/confutil"
	"github.com/docker/buildx/util/sourcemeta"
	bkclient "github.com/moby/buildkit/client"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/sourcepolicy/policysession"
	"github.com/moby/buildkit/util/apicaps"
	"github.com/open-policy-agent/opa/v1/ast"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
)

// PolicySet is one policy of a build: Rego files evaluated together, with
// their settings. A build's sets must all allow a source.
type PolicySet struct {
	Files []PolicyFile
	// LogLevel is the most verbose level of the policy's messages shown;
	// nil shows warnings and errors only.
	LogLevel *logrus.Level
	// Strict refuses the build before the solve when the daemon cannot
	// consult the policy for every source (before BuildKit v0.27).
	Strict bool
	// NoCaps: the policy is not asked for caps (buildx's built-in
	// default policy is not).
	NoCaps bool
}

// PolicyFile is one Rego module, named as the user named it.
type PolicyFile struct {
	Name string
	Data []byte
}

// PolicyOptions say where a policy's imports and logs go.
type PolicyOptions struct {
	// Dir is the folder that imports of other Rego packages resolve in:
	// the build context. Empty: imports fail.
	Dir string
	// ConfigDir holds the signature verifier's state (its policy/ folder).
	ConfigDir string
	// Log receives the policy's messages (print() and decisions).
	Log io.Writer
}

// ParsePolicyFile checks that data is a Rego v1 module, so a typo fails
// before the build starts, in one line that names the file.
func ParsePolicyFile(name string, data []byte) error {
	_, err := ast.ParseModuleWithOpts(name, string(data), ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err == nil {
		return nil
	}
	var errs ast.Errors
	if errors.As(err, &errs) && len(errs) > 0 {
		e := errs[0]
		line := 0
		if e.Location != nil {
			line = e.Location.Row
		}
		return fmt.Errorf("parsing policy file %s: line %d: %s", name, line, e.Message)
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return fmt.Errorf("parsing policy file %s: %s", name, msg)
}

// Policy is a build's policies, made once from the request and bound at
// each solve to the node it runs on (bindPolicy).
type Policy struct {
	opts []policy.Opt
	// noCaps marks the policies whose caps are not asked: buildx's own
	// default policy.
	noCaps []bool
	// strict: one of the policies must be consulted by the daemon, which
	// is checked before the solve.
	strict bool
	log    io.Writer
}

// NewPolicy returns the policies of sets for req's solves, made by buildx's
// policy engine with the request's build arguments, labels, target and
// Dockerfile name as input.env. It must be called once req is complete.
func NewPolicy(req *Request, sets []PolicySet, opts PolicyOptions) *Policy {
	env := policy.Env{Filename: policyEnvFilename(req.Dockerfile), Target: req.Target, Labels: req.Labels}
	for k, v := range req.BuildArgs {
		if env.Args == nil {
			env.Args = map[string]*string{}
		}
		env.Args[k] = &v
	}
	verifier := policy.SignatureVerifier(confutil.NewConfig(nil, confutil.WithDir(opts.ConfigDir)))
	p := &Policy{log: opts.Log}
	for _, s := range sets {
		files := make([]policy.File, len(s.Files))
		for i, f := range s.Files {
			files[i] = policy.File{Filename: f.Name, Data: f.Data}
		}
		p.opts = append(p.opts, policy.Opt{
			Files:            files,
			Env:              env,
			Log:              policyLogger(opts.Log, s.LogLevel),
			FS:               PolicyFS(opts.Dir),
			VerifierProvider: verifier,
		})
		p.noCaps = append(p.noCaps, s.NoCaps)
		p.strict = p.strict || s.Strict
	}
	return p
}

// bindPolicy gives so, a solve on pt's node, the request's policies and
// its own source check. The policies look sources up (provenance
// materials, attestations) through the node, in a gateway session of their
// own that opens on first use; release closes it after the solve. A policy
// whose caps ask for exec.proxy turns on the daemon's network proxy.
func bindPolicy(ctx context.Context, pt *partPlan, so *bkclient.SolveOpt) (release func(), err error) {
	p := pt.req.Policy
	if p == nil {
		return func() {}, nil
	}
	resolver := sourcemeta.NewResolver(pt.conn.client, sourcemeta.WithSession(so.Session))
	release = func() { _ = resolver.Close() }
	var def *ocispecs.Platform
	if pl := pt.conn.info.Platforms; len(pl) > 0 {
		n := platforms.Normalize(pl[0])
		def = &n
	}
	cb, proxy, err := p.callback(ctx, resolver, def, pt.req.SourcePolicy)
	if err == nil && (proxy || p.strict) {
		err = checkPolicyCaps(ctx, pt.conn.client, proxy, p.strict)
	}
	if err != nil {
		release()
		return nil, err
	}
	if proxy {
		so.ProxyNetwork = true
		if p.log != nil {
			fmt.Fprintln(p.log, "policy enabled network proxy")
		}
	}
	so.SourcePolicyProvider = policysession.NewPolicyProvider(cb)
	return release, nil
}

// callback makes the policies with resolver and the node's default
// platform, composed with the request's own check (nil: none), which runs
// last; proxy says whether one of them asks for the network proxy.
func (p *Policy) callback(ctx context.Context, resolver *sourcemeta.Resolver, def *ocispecs.Platform, own policysession.PolicyCallback) (_ policysession.PolicyCallback, proxy bool, _ error) {
	cbs := make([]policysession.PolicyCallback, 0, len(p.opts)+1)
	for i, o := range p.opts {
		o.SourceResolver, o.DefaultPlatform = resolver, def
		pol := policy.NewPolicy(o)
		if !p.noCaps[i] {
			caps, err := pol.CheckCaps(ctx)
			if err != nil {
				return nil, false, fmt.Errorf("evaluating policy caps: %w", err)
			}
			proxy = proxy || caps[policy.CapExecProxy]
		}
		cbs = append(cbs, pol.CheckPolicy)
	}
	if own != nil {
		cbs = append(cbs, own)
	}
	return policy.MultiPolicyCallback(cbs...), proxy, nil
}

// checkPolicyCaps asks the daemon, through an empty gateway build, whether
// it can run a solve's steps behind its network proxy (proxy) and consult
// the policy for every source (strict).
func checkPolicyCaps(ctx context.Context, c *bkclient.Client, proxy, strict bool) error {
	var caps apicaps.CapSet
	_, err := c.Build(ctx, bkclient.SolveOpt{Internal: true}, "xbuild", func(_ context.Context, gc gateway.Client) (*gateway.Result, error) {
		caps = gc.BuildOpts().LLBCaps
		return nil, nil
	}, nil)
	if err != nil {
		return fmt.Errorf("reading the capabilities of BuildKit: %w", err)
	}
	if strict && caps.Supports(pb.CapSourcePolicySession) != nil {
		return errors.New("strict policy is not supported by the current BuildKit daemon, please upgrade to version v0.27+")
	}
	if proxy && caps.Supports(pb.CapExecMetaNetworkProxy) != nil {
		return errors.New("network proxy requested by policy is not supported by the current BuildKit daemon, please upgrade to version v0.31+")
	}
	return nil
}

func policyEnvFilename(dockerfile string) string {
	base := filepath.Base(filepath.Clean(dockerfile))
	if dockerfile == "" || dockerfile == "-" || base == "." || base == string(filepath.Separator) {
		return "Dockerfile"
	}
	return base
}

func policyLogger(w io.Writer, level *logrus.Level) func(logrus.Level, string) {
	max := logrus.WarnLevel
	if level != nil {
		max = *level
	}
	return func(l logrus.Level, msg string) {
		if w == nil || l > max {
			return
		}
		fmt.Fprintf(w, "policy: %s\n", strings.TrimSuffix(msg, "\n"))
	}
}

// PolicyFS opens dir for a policy's imports; an empty dir has none.
func PolicyFS(dir string) func() (fs.StatFS, func() error, error) {
	return func() (fs.StatFS, func() error, error) {
		if dir == "" {
			return nil, nil, errors.New("no folder for policy imports")
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("opening policy folder: %w", err)
		}
		statFS, ok := root.FS().(fs.StatFS)
		if !ok {
			_ = root.Close()
			return nil, nil, fmt.Errorf("opening policy folder %s: no stat support", dir)
		}
		return statFS, root.Close, nil
	}
}

// sourcePolicy is the request's own source check (a replay's pins);
// bindPolicy adds the user's policies in front of it at the solve.
func sourcePolicy(req *Request) policysession.PolicyCallback {
	return req.SourcePolicy
}
