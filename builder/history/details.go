package history

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/pkg/epoch"
	"github.com/containerd/platforms"
	"github.com/tonistiigi/go-csvvalue"
)

// Details are what inspect shows of a record. The field names are the
// keys of buildx's `history inspect --format json`, and of templates.
type Details struct {
	Name string `json:",omitempty"`
	Ref  string

	Context       string   `json:",omitempty"`
	Dockerfile    string   `json:",omitempty"`
	VCSRepository string   `json:",omitempty"`
	VCSRevision   string   `json:",omitempty"`
	Target        string   `json:",omitempty"`
	Platform      []string `json:",omitempty"`
	KeepGitDir    bool     `json:",omitempty"`

	NamedContexts []KeyValue `json:",omitempty"`

	StartedAt   *time.Time    `json:",omitempty"`
	CompletedAt *time.Time    `json:",omitempty"`
	Duration    time.Duration `json:",omitempty"`
	Status      Status        `json:",omitempty"`
	Error       *ErrorDetails `json:",omitempty"`

	NumCompletedSteps int32
	NumTotalSteps     int32
	NumCachedSteps    int32

	BuildArgs []KeyValue `json:",omitempty"`
	Labels    []KeyValue `json:",omitempty"`

	Config Config

	Materials   []Material          `json:",omitempty"`
	Attachments []AttachmentSummary `json:",omitempty"`

	// Errors are attributes that could not be read, so a bad one costs
	// its field, not the whole inspection.
	Errors []string `json:",omitempty"`
}

// Config is the build's configuration, read from its frontend attributes.
type Config struct {
	Network          string   `json:",omitempty"`
	ExtraHosts       []string `json:",omitempty"`
	Hostname         string   `json:",omitempty"`
	CgroupParent     string   `json:",omitempty"`
	ImageResolveMode string   `json:",omitempty"`
	MultiPlatform    bool     `json:",omitempty"`
	NoCache          bool     `json:",omitempty"`
	NoCacheFilter    []string `json:",omitempty"`

	ShmSize               string `json:",omitempty"`
	Ulimit                string `json:",omitempty"`
	Memory                string `json:",omitempty"`
	MemorySwap            string `json:",omitempty"`
	CPUShares             string `json:",omitempty"`
	CPUPeriod             string `json:",omitempty"`
	CPUQuota              string `json:",omitempty"`
	CPUSetCPUs            string `json:",omitempty"`
	CPUSetMems            string `json:",omitempty"`
	CacheMountNS          string `json:",omitempty"`
	DockerfileCheckConfig string `json:",omitempty"`
	SourceDateEpoch       string `json:",omitempty"`
	SandboxHostname       string `json:",omitempty"`

	// RestRaw are the other attributes, as they are.
	RestRaw []KeyValue `json:",omitempty"`
}

// Material is a resolved dependency from the build's provenance.
type Material struct {
	URI     string   `json:",omitempty"`
	Digests []string `json:",omitempty"`
}

// AttachmentSummary is one attachment in a listing.
type AttachmentSummary struct {
	Digest   string `json:",omitempty"`
	Platform string `json:",omitempty"`
	Type     string `json:",omitempty"`
}

// KeyValue is one named value (a build argument, a label).
type KeyValue struct {
	Name  string `json:",omitempty"`
	Value string `json:",omitempty"`
}

// Inspect reads everything inspect shows of rec: its attributes, timing,
// error (with the failing step's source and last log lines) and
// attachments. wd is the folder local paths are shown relative to.
func Inspect(ctx context.Context, rec *Record, wd string) (*Details, error) {
	d := &Details{Name: rec.Name(), Ref: rec.Ref, Status: rec.Status()}
	d.readAttrs(rec, wd)
	if rec.CreatedAt != nil {
		t := rec.CreatedAt.AsTime().Local()
		d.StartedAt = &t
	}
	if rec.CompletedAt != nil {
		t := rec.CompletedAt.AsTime().Local()
		d.CompletedAt = &t
	}
	d.Duration, _ = rec.Duration()
	d.NumCompletedSteps, d.NumTotalSteps, d.NumCachedSteps = rec.NumCompletedSteps, rec.NumTotalSteps, rec.NumCachedSteps
	var err error
	if d.Error, err = readError(ctx, rec); err != nil {
		return nil, err
	}
	atts, err := Attachments(ctx, rec)
	if err != nil {
		return nil, err
	}
	for _, a := range atts {
		d.Attachments = append(d.Attachments, AttachmentSummary{Digest: a.Descriptor.Digest.String(), Platform: a.PlatformString(), Type: a.Type()})
	}
	if d.Materials, err = materials(ctx, rec, atts); err != nil {
		return nil, err
	}
	return d, nil
}

// attrs reads frontend attributes, each at most once: what is left at the
// end is shown raw.
type attrs struct {
	m    map[string]string
	errs *[]string
}

func (a attrs) str(k string, dst *string) {
	if v, ok := a.m[k]; ok {
		*dst = v
		delete(a.m, k)
	}
}

func (a attrs) boolean(k string, dst *bool) {
	v, ok := a.m[k]
	if !ok {
		return
	}
	delete(a.m, k)
	b, err := strconv.ParseBool(v)
	if err != nil {
		*a.errs = append(*a.errs, fmt.Sprintf("failed to parse %s: (%v)", v, err))
	}
	*dst = b
}

// prefixed takes every attribute under prefix, sorted by name.
func (a attrs) prefixed(prefix string) []KeyValue {
	var out []KeyValue
	for _, k := range slices.Sorted(maps.Keys(a.m)) {
		if name, ok := strings.CutPrefix(k, prefix); ok {
			out = append(out, KeyValue{Name: name, Value: a.m[k]})
			delete(a.m, k)
		}
	}
	return out
}

func (d *Details) readAttrs(rec *Record, wd string) {
	a := attrs{m: maps.Clone(rec.FrontendAttrs), errs: &d.Errors}
	if a.m == nil {
		a.m = map[string]string{}
	}
	delete(a.m, "frontend.caps")
	d.readSource(a, rec, wd)
	a.str("target", &d.Target)
	if v, ok := a.m["platform"]; ok {
		delete(a.m, "platform")
		d.Platform = d.parsePlatforms(v)
	}
	a.boolean("build-arg:BUILDKIT_CONTEXT_KEEP_GIT_DIR", &d.KeepGitDir)
	d.NamedContexts = a.prefixed("context:")
	d.readConfig(a)
	d.BuildArgs = a.prefixed("build-arg:")
	d.Labels = a.prefixed("label:")
	for _, k := range slices.Sorted(maps.Keys(a.m)) {
		if !hasAnyPrefix(k, "vcs:", "attest:") {
			d.Config.RestRaw = append(d.Config.RestRaw, KeyValue{Name: k, Value: a.m[k]})
		}
	}
}

// readSource fills in the context, Dockerfile and repository: from the
// state this side kept when there is one, else from the attributes.
func (d *Details) readSource(a attrs, rec *Record, wd string) {
	if st := rec.Local; st != nil {
		d.Context, d.Dockerfile = st.LocalPath, st.DockerfilePath
		if d.Dockerfile != "" && d.Dockerfile != "-" {
			d.Dockerfile = relativeInside(d.Context, d.Dockerfile)
		}
		if d.Context != "" {
			d.Context = relativeInside(wd, d.Context)
		}
	}
	if v, ok := a.m["context"]; ok && d.Context == "" {
		delete(a.m, "context")
		d.Context = v
	}
	if v, ok := a.m["filename"]; ok && d.Dockerfile == "" {
		d.Dockerfile = v
		if dir, ok := a.m["vcs:localdir:dockerfile"]; ok {
			d.Dockerfile = filepath.Join(dir, v)
		}
	}
	delete(a.m, "filename")
	// A remote context names its own repository; the VCS attributes
	// describe a local one.
	if _, ok := a.m["context"]; !ok {
		d.VCSRepository, d.VCSRevision = a.m["vcs:source"], a.m["vcs:revision"]
	}
}

// relativeInside is p relative to base when p is inside base.
func relativeInside(base, p string) string {
	rel, err := filepath.Rel(base, p)
	if err != nil || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || rel == ".." {
		return p
	}
	return rel
}

func (d *Details) parsePlatforms(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		p, err := platforms.Parse(s)
		if err != nil {
			d.Errors = append(d.Errors, fmt.Sprintf("failed to parse %s: (%v)", v, err))
			return out
		}
		out = append(out, platforms.FormatAll(platforms.Normalize(p)))
	}
	return out
}

func (d *Details) readConfig(a attrs) {
	c := &d.Config
	a.str("force-network-mode", &c.Network)
	a.str("hostname", &c.Hostname)
	a.str("cgroup-parent", &c.CgroupParent)
	a.str("image-resolve-mode", &c.ImageResolveMode)
	a.boolean("build-arg:BUILDKIT_MULTI_PLATFORM", &c.MultiPlatform)
	a.boolean("multi-platform", &c.MultiPlatform)
	if v, ok := a.m["no-cache"]; ok {
		delete(a.m, "no-cache")
		// An empty value disables the cache for every step; a list, for
		// the stages it names.
		if v == "" {
			c.NoCache = true
		} else {
			c.NoCacheFilter = strings.Split(v, ",")
		}
	}
	if v, ok := a.m["add-hosts"]; ok {
		delete(a.m, "add-hosts")
		hosts, err := csvvalue.Fields(v, nil)
		if err != nil {
			d.Errors = append(d.Errors, fmt.Sprintf("failed to parse %s: (%v)", v, err))
		}
		c.ExtraHosts = hosts
	}
	for k, dst := range map[string]*string{
		"shm-size": &c.ShmSize, "ulimit": &c.Ulimit, "memory": &c.Memory, "memswap": &c.MemorySwap,
		"cpushares": &c.CPUShares, "cpuperiod": &c.CPUPeriod, "cpuquota": &c.CPUQuota,
		"cpusetcpus": &c.CPUSetCPUs, "cpusetmems": &c.CPUSetMems,
		"build-arg:BUILDKIT_CACHE_MOUNT_NS":     &c.CacheMountNS,
		"build-arg:BUILDKIT_DOCKERFILE_CHECK":   &c.DockerfileCheckConfig,
		"build-arg:" + epoch.SourceDateEpochEnv: &c.SourceDateEpoch,
		"build-arg:SANDBOX_HOSTNAME":            &c.SandboxHostname,
	} {
		a.str(k, dst)
	}
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(s, p) })
}

// sortedDigests formats a digest set as algorithm:hex, sorted.
func sortedDigests(set map[string]string) []string {
	out := make([]string, 0, len(set))
	for alg, hex := range set {
		out = append(out, alg+":"+hex)
	}
	slices.SortFunc(out, cmp.Compare)
	return out
}
