// Command xbuild builds container images with BuildKit, in the style of
// docker buildx. It also runs as a Docker CLI plugin: installed as
// docker-buildx it stands in for buildx (docker buildx ..., and what Docker
// Compose runs), as docker-xbuild it is docker xbuild ....
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"syscall"

	"github.com/docker/buildx/util/cobrautil"
	"github.com/docker/buildx/util/desktop"
	"github.com/go-logr/logr"
	"github.com/moby/buildkit/sourcepolicy/policysession"
	"github.com/moby/buildkit/util/grpcerrors"
	"google.golang.org/grpc/codes"
	"k8s.io/klog/v2"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/commands"
	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/driver/container"
	"github.com/xbuild/xbuild/driver/docker"
	"github.com/xbuild/xbuild/driver/kubernetes"
	"github.com/xbuild/xbuild/driver/local"
	"github.com/xbuild/xbuild/driver/remote"
)

// version is set at link time (-X main.version=...).
var version = ""

// pluginNames are the names the binary answers to as a Docker CLI plugin.
var pluginNames = []string{"buildx", "xbuild"}

func main() {
	os.Exit(run(os.Args, os.Getenv))
}

func run(args []string, getenv func(string) string) int {
	if len(args) > 1 && args[1] == "docker-cli-plugin-metadata" {
		if err := commands.WritePluginMetadata(os.Stdout, binaryVersion()); err != nil {
			fmt.Fprintf(os.Stderr, "ERROR: %s\n", err)
			return 1
		}
		return 0
	}
	// client-go reports through klog, on stderr, what is routine here: an
	// exec stream to a pod closing when its connection ends. The
	// kubernetes driver says itself what went wrong.
	klog.SetLogger(logr.Discard())
	name := "xbuild"
	rest := args[1:]
	if isPlugin(args, getenv) {
		name = "docker " + args[1]
		rest = rest[1:]
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stopSignals := cancelOnSignal(ctx, cancel)
	defer stopSignals()
	if sock := getenv("DOCKER_CLI_PLUGIN_SOCKET"); sock != "" {
		cancelOnPluginSocket(sock, cancel)
	}

	env := &commands.Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: getenv, Environ: os.Environ,
		Drivers: driver.NewRegistry(docker.Factory{}, container.Factory{}, kubernetes.Factory{}, remote.Factory{}, local.Factory{}),
		Version: binaryVersion(),
	}
	root := commands.NewRootCommand(env, name)
	root.SetArgs(rest)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "ERROR: canceled")
		return 130
	}
	var code cobrautil.ExitCodeError
	if errors.As(err, &code) {
		return int(code) // the command printed its outcome already
	}
	for _, msg := range policysession.DenyMessages(err) {
		if msg.GetMessage() != "" {
			fmt.Fprintf(os.Stderr, "Policy: %s\n", msg.GetMessage())
		}
	}
	fmt.Fprintf(os.Stderr, "ERROR: %s\n", err)
	// Where Docker Desktop's build backend is, buildx follows a failed
	// build's error with the link to its record; so do we.
	var failed *builder.BuildRefError
	if errors.As(err, &failed) && desktop.BuildBackendEnabled() {
		_ = (&desktop.ErrorWithBuildRef{Ref: failed.Ref, Err: err}).Print(os.Stderr)
	}
	return exitCode(err)
}

// isPlugin: the Docker CLI runs a plugin as `docker-NAME NAME ARGS`;
// other callers (Compose) run `docker-buildx ARGS`, which is not plugin mode.
func isPlugin(args []string, getenv func(string) string) bool {
	if len(args) < 2 || !slices.Contains(pluginNames, args[1]) {
		return false
	}
	return getenv("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND") != "" || filepath.Base(args[0]) == "docker-"+args[1]
}

// exitCode maps errors to buildx's exit codes.
func exitCode(err error) int {
	if errors.Is(err, context.Canceled) {
		return 130
	}
	switch grpcerrors.Code(err) {
	case codes.Canceled:
		return 130
	case codes.Internal:
		return 100
	case codes.ResourceExhausted:
		return 102
	}
	return 1
}

// cancelOnSignal cancels ctx on the first SIGINT or SIGTERM, so the solve
// is cancelled on the daemon and outputs are cleaned up; a second signal
// exits at once.
func cancelOnSignal(ctx context.Context, cancel context.CancelCauseFunc) func() {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-ch:
			cancel(errors.New("canceled by signal"))
		case <-ctx.Done():
			return
		}
		<-ch
		os.Exit(130)
	}()
	return func() { signal.Stop(ch) }
}

// cancelOnPluginSocket: the Docker CLI closes this socket to ask a plugin to
// stop.
func cancelOnPluginSocket(addr string, cancel context.CancelCauseFunc) {
	conn, err := net.Dial("unix", addr)
	if err != nil {
		return
	}
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		cancel(errors.New("canceled by docker"))
	}()
}

func binaryVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
