package builder

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/platforms"
	"github.com/docker/buildx/build"
	"github.com/docker/buildx/util/buildflags"
	"github.com/docker/cli/cli/config"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/sourcepolicy/policysession"

	"github.com/xbuild/xbuild/exporter"
)

// solveOpt assembles BuildKit's solve options from the request, the plan,
// the synced inputs and the prepared exports.
func solveOpt(req *Request, p *Plan, in *inputs, ex *exporter.Export) (*bkclient.SolveOpt, error) {
	attachables, err := sessionAttachables(req)
	if err != nil {
		return nil, err
	}
	so := &bkclient.SolveOpt{
		Ref:           newRef(),
		Frontend:      "dockerfile.v0",
		FrontendAttrs: frontendAttrs(req, p, in),
		LocalMounts:   in.mounts,
		Exports:       ex.Entries,
		CacheImports:  cacheWithCredentials(req.CacheFrom),
		CacheExports:  cacheWithCredentials(req.CacheTo),
		Session:       attachables,
	}
	if cb := sourcePolicy(req); cb != nil {
		so.SourcePolicyProvider = policysession.NewPolicyProvider(cb)
	}
	so.AllowedEntitlements = slices.Clone(req.Allow)
	if req.Network == "host" && !slices.Contains(so.AllowedEntitlements, "network.host") {
		so.AllowedEntitlements = append(so.AllowedEntitlements, "network.host")
	}
	for i := range so.Exports {
		switch so.Exports[i].Type {
		case "moby", exporter.TypeImage, exporter.TypeOCI, exporter.TypeDocker:
			maps.Copy(so.Exports[i].Attrs, req.Annotations)
		}
	}
	return so, nil
}

// cacheWithCredentials gives gha entries the runner's cache token, URLs
// and service version, and s3 entries the environment's AWS credentials,
// where the entry names none; a gha entry still without a token and URL is
// dropped, so a workflow's cache settings also run off a runner. buildx's
// own function does it, at the same point: the credentials exist only in
// the solve options, never in the request that --print, the job summary
// and the logs show.
func cacheWithCredentials(in []bkclient.CacheOptionsEntry) []bkclient.CacheOptionsEntry {
	entries := make([]*buildflags.CacheOptionsEntry, len(in))
	for i, e := range in {
		entries[i] = &buildflags.CacheOptionsEntry{Type: e.Type, Attrs: e.Attrs}
	}
	return build.CreateCaches(entries)
}

func frontendAttrs(req *Request, p *Plan, in *inputs) map[string]string {
	attrs := maps.Clone(in.attrs)
	for k, v := range req.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	for k, v := range req.Labels {
		attrs["label:"+k] = v
	}
	maps.Copy(attrs, p.Attests)
	if len(req.Platforms) > 0 {
		ps := make([]string, len(req.Platforms))
		for i, pl := range req.Platforms {
			ps[i] = platforms.FormatAll(pl)
		}
		attrs["platform"] = strings.Join(ps, ",")
	}
	if req.Target != "" {
		attrs["target"] = req.Target
	}
	if len(req.NoCacheFilter) > 0 {
		attrs["no-cache"] = strings.Join(req.NoCacheFilter, ",")
	}
	if req.NoCache {
		attrs["no-cache"] = ""
	}
	switch {
	case req.Pull:
		attrs["image-resolve-mode"] = pb.AttrImageResolveModeForcePull
	case p.Destination.Native:
		// The engine's own builder sees the engine's images first, as
		// `docker build` users expect.
		attrs["image-resolve-mode"] = pb.AttrImageResolveModePreferLocal
	}
	addRunAttrs(attrs, req, p.ExtraHosts)
	return attrs
}

// addRunAttrs sets what RUN steps get. "default" is the frontend's own
// mode, which it knows only as the absence of force-network-mode.
func addRunAttrs(attrs map[string]string, req *Request, extraHosts []string) {
	if req.Network == "host" || req.Network == "none" {
		attrs["force-network-mode"] = req.Network
	}
	if len(extraHosts) > 0 {
		attrs["add-hosts"] = strings.Join(extraHosts, ",")
	}
	if req.ShmSize > 0 {
		attrs["shm-size"] = strconv.FormatInt(req.ShmSize, 10)
	}
	if len(req.Ulimits) > 0 {
		attrs["ulimit"] = strings.Join(req.Ulimits, ",")
	}
	if req.CgroupParent != "" {
		attrs["cgroup-parent"] = req.CgroupParent
	}
	maps.Copy(attrs, req.Resources)
}

func sessionAttachables(req *Request) ([]session.Attachable, error) {
	cfg := config.LoadDefaultConfigFile(io.Discard)
	out := []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(cfg),
	})}
	if len(req.Secrets) > 0 {
		st, err := secretsprovider.NewStore(req.Secrets)
		if err != nil {
			return nil, fmt.Errorf("reading secrets: %w", err)
		}
		out = append(out, secretsprovider.NewSecretProvider(st))
	}
	if len(req.SSH) > 0 {
		sp, err := sshprovider.NewSSHAgentProvider(req.SSH)
		if err != nil {
			return nil, fmt.Errorf("setting up ssh forwarding: %w", err)
		}
		out = append(out, sp)
	}
	return out, nil
}
