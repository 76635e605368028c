package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/docker/buildx/policy"
	"github.com/docker/buildx/util/cobrautil"
	"github.com/docker/buildx/util/confutil"
	"github.com/docker/buildx/util/sourcemeta"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

func newPolicyTestCommand(env *Env, builderName *string) *cobra.Command {
	var o policy.TestOptions
	cmd := &cobra.Command{
		Use:   "test <path>",
		Short: "Run policy tests",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lazy := &lazyPolicyResolver{env: env, builderName: *builderName}
			defer lazy.close()
			o.Provider = &policy.TestOptionsProvider{
				Resolve:          lazy.resolve,
				Platform:         lazy.platform,
				VerifierProvider: policy.SignatureVerifier(confutil.NewConfig(nil, confutil.WithDir(env.ConfigDir()))),
			}
			return runPolicyTest(cmd.Context(), env.Stdout, args[0], o)
		},
	}
	cmd.Flags().StringVar(&o.Run, "run", "", "Run only tests with name containing this substring")
	cmd.Flags().StringVar(&o.Filename, "filename", "Dockerfile", "Name of the Dockerfile to validate")
	return cmd
}

// runPolicyTest runs the test_ rules under path against the policy
// FILENAME.rego, both relative to the working folder, and prints a line
// per test, with the input and decision of each that failed.
func runPolicyTest(ctx context.Context, w io.Writer, path string, o policy.TestOptions) error {
	root, ok := os.DirFS(".").(fs.StatFS)
	if !ok {
		return errors.New("policy test root does not support stat")
	}
	o.Root = root
	summary, err := policy.RunPolicyTests(ctx, path, o)
	if err != nil {
		return err
	}
	for _, r := range summary.Results {
		printPolicyTestResult(w, r)
	}
	if summary.Failed > 0 {
		return cobrautil.ExitCodeError(1) // the report says which

	}
	return nil
}

func printPolicyTestResult(w io.Writer, r policy.TestResult) {
	status := "PASS"
	if !r.Passed {
		status = "FAIL"
	}
	allow := "n/a"
	if r.Allow != nil {
		allow = fmt.Sprint(*r.Allow)
	}
	if len(r.DenyMessages) > 0 {
		fmt.Fprintf(w, "%s: %s (allow=%s, deny_msg=%s)\n", r.Name, status, allow, strings.Join(r.DenyMessages, "; "))
	} else {
		fmt.Fprintf(w, "%s: %s (allow=%s)\n", r.Name, status, allow)
	}
	if r.Passed {
		return
	}
	printLabeledJSON(w, "input", r.Input)
	printLabeledJSON(w, "decision", r.Decision)
	if len(r.MissingInput) > 0 {
		missing := make([]string, len(r.MissingInput))
		for i, k := range r.MissingInput {
			missing[i] = "input." + k
		}
		fmt.Fprintf(w, "missing_input: %s\n", strings.Join(missing, ", "))
	}
	if len(r.MetadataNeeded) > 0 {
		fmt.Fprintf(w, "metadata_resolve: %s\n", strings.Join(r.MetadataNeeded, ", "))
	}
}

func printLabeledJSON[T any](w io.Writer, label string, v *T) {
	if v == nil {
		fmt.Fprintf(w, "%s: <nil>\n", label)
		return
	}
	dt, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fmt.Fprintf(w, "%s: <error encoding>\n", label)
		return
	}
	fmt.Fprintf(w, "%s:\n%s\n", label, dt)
}

// lazyPolicyResolver connects to the builder only when a test needs
// metadata, so tests with complete inputs run without one.
type lazyPolicyResolver struct {
	env         *Env
	builderName string
	once        sync.Once
	r           *policyResolver
	err         error
}

func (l *lazyPolicyResolver) get(ctx context.Context) (*policyResolver, error) {
	l.once.Do(func() { l.r, l.err = newPolicyResolver(ctx, l.env, l.builderName) })
	return l.r, l.err
}

func (l *lazyPolicyResolver) platform(ctx context.Context) (*ocispecs.Platform, error) {
	r, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	p := r.platform
	return &p, nil
}

func (l *lazyPolicyResolver) resolve(ctx context.Context, src *pb.SourceOp, req *gwpb.ResolveSourceMetaRequest) (*gwpb.ResolveSourceMetaResponse, error) {
	r, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := r.meta.ResolveSourceMetadata(ctx, src, sourcemeta.ToResolverOpt(req, &r.platform))
	if err != nil {
		return nil, err
	}
	return sourcemeta.ToGatewayMetaResponse(resp), nil
}

func (l *lazyPolicyResolver) close() {
	if l.r != nil {
		l.r.close()
	}
}
