package builder

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/docker/buildx/util/buildflags"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/moby/buildkit/sourcepolicy/policysession"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/exporter"
)

// Request is one validated build. Commands fill it from flags; nothing
// below commands parses user text again.
type Request struct {
	// Context is a local folder, a Git or HTTP URL, or "-" for stdin.
	Context string
	// Dockerfile is the Dockerfile path (local contexts: relative to the
	// working folder; remote contexts: inside the context). Empty means
	// Dockerfile in the context. "-" reads it from Stdin.
	Dockerfile string
	Stdin      io.Reader

	Tags        []string
	BuildArgs   map[string]string
	Labels      map[string]string
	Target      string
	Platforms   []ocispecs.Platform
	Outputs     []exporter.Output
	Annotations map[string]string // exporter attribute -> value
	// Attests holds the attestations asked for by type (provenance, sbom).
	Attests       map[string]Attest
	Secrets       []secretsprovider.Source
	SSH           []sshprovider.AgentConfig
	BuildContexts map[string]string
	CacheFrom     []bkclient.CacheOptionsEntry
	CacheTo       []bkclient.CacheOptionsEntry
	NoCache       bool
	// NoCacheFilter names the stages built without cache; NoCache wins.
	NoCacheFilter []string
	Pull          bool

	// What RUN steps get (see runoptions.go for the syntax of each).
	// Network is default, host or none; ExtraHosts are NAME=IP.
	Network    string
	ExtraHosts []string
	// ShmSize is the size of /dev/shm in bytes; 0 is BuildKit's default.
	ShmSize int64
	// Ulimits are NAME=SOFT:HARD, sorted.
	Ulimits      []string
	CgroupParent string
	// Resources are the frontend's resource limit attributes (memory,
	// cpushares, ...).
	Resources map[string]string
	// Allow are the entitlements the solve asks for; the daemon must
	// grant them as well.
	Allow []string

	MetadataFile string
	IIDFile      string
	// MetadataWarnings adds the build checks' findings to the metadata
	// file, under buildx.build.warnings.
	MetadataWarnings bool

	// Call, when set, runs a frontend method (lint, outline, targets,
	// subrequests.describe) instead of the build; nothing is exported.
	Call *buildflags.CallFunc

	// SourcePolicy, when set, decides on every source the solve resolves
	// (a replay pins each to the digest its provenance recorded).
	SourcePolicy policysession.PolicyCallback
	// Policy, when set, is the user's policy (--policy, Dockerfile.rego;
	// see NewPolicy); a source must pass it and SourcePolicy.
	Policy *Policy
}

// Attest is one attestation request.
type Attest struct {
	// Off: the user turned this attestation off (--provenance=false).
	Off bool
	// Params are the frontend parameters ("mode=max"), without the type.
	Params string
}

// NewSecret resolves where a secret comes from, as buildx does: env= or src=
// when given; else the variable named like the ID when it is set, else the
// file named like it. A file must exist now, so a typo fails before the
// build starts.
func NewSecret(id, file, env string, getenv func(string) string) (secretsprovider.Source, error) {
	if id == "" {
		return secretsprovider.Source{}, errors.New("secret needs an id")
	}
	src := secretsprovider.Source{ID: id, FilePath: file, Env: env}
	if src.FilePath == "" && src.Env == "" {
		if getenv(id) != "" {
			src.Env = id
		} else {
			src.FilePath = id
		}
	}
	if src.FilePath != "" {
		if _, err := os.Stat(src.FilePath); err != nil {
			if pe, ok := err.(*os.PathError); ok {
				err = pe.Err
			}
			return secretsprovider.Source{}, fmt.Errorf("secret %q: file %q: %w", id, src.FilePath, err)
		}
	}
	return src, nil
}
