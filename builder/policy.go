package builder

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/buildx/policy"
	"github.com/docker/buildx/util/confutil"
	"github.com/moby/buildkit/sourcepolicy/policysession"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/sirupsen/logrus"
)

// PolicySet is one policy of a build: Rego files evaluated together, with
// their settings. A build's sets must all allow a source.
type PolicySet struct {
	Files []PolicyFile
	// LogLevel is the most verbose level of the policy's messages shown;
	// nil shows warnings and errors only.
	LogLevel *logrus.Level
	// Strict asks the daemon to refuse the build when it cannot consult
	// the policy; BuildKit v0.27 and later always can.
	Strict bool
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

// NewPolicy returns the check of sets for req's solves, made by buildx's
// policy engine with the request's build arguments, labels, target and
// Dockerfile name as input.env. It must be called once req is complete.
func NewPolicy(req *Request, sets []PolicySet, opts PolicyOptions) policysession.PolicyCallback {
	env := policy.Env{Filename: policyEnvFilename(req.Dockerfile), Target: req.Target, Labels: req.Labels}
	for k, v := range req.BuildArgs {
		if env.Args == nil {
			env.Args = map[string]*string{}
		}
		env.Args[k] = &v
	}
	verifier := policy.SignatureVerifier(confutil.NewConfig(nil, confutil.WithDir(opts.ConfigDir)))
	cbs := make([]policysession.PolicyCallback, 0, len(sets))
	for _, s := range sets {
		files := make([]policy.File, len(s.Files))
		for i, f := range s.Files {
			files[i] = policy.File{Filename: f.Name, Data: f.Data}
		}
		p := policy.NewPolicy(policy.Opt{
			Files:            files,
			Env:              env,
			Log:              policyLogger(opts.Log, s.LogLevel),
			FS:               PolicyFS(opts.Dir),
			VerifierProvider: verifier,
		})
		cbs = append(cbs, p.CheckPolicy)
	}
	return policy.MultiPolicyCallback(cbs...)
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

// sourcePolicy composes the user's policy and the request's own source
// check (a replay's pins): a source must pass both, the policy first.
func sourcePolicy(req *Request) policysession.PolicyCallback {
	switch {
	case req.Policy == nil:
		return req.SourcePolicy
	case req.SourcePolicy == nil:
		return req.Policy
	}
	return policy.MultiPolicyCallback(req.Policy, req.SourcePolicy)
}
