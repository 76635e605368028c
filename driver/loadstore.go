package driver

import (
	"context"
	"time"

	"github.com/xbuild/xbuild/engine"
	"github.com/xbuild/xbuild/imagestore"
)

// LoadStore describes the store of the engine --load writes to. An engine
// that does not answer is Unknown: a build that does not load must not
// fail because of it.
func LoadStore(ctx context.Context, ep engine.Endpoint) imagestore.Description {
	if ep.Host == "" {
		return imagestore.Description{}
	}
	api, err := ep.Client()
	if err != nil {
		return imagestore.Description{}
	}
	defer api.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := imagestore.Describe(ctx, api)
	if err != nil {
		return imagestore.Description{}
	}
	return d
}

// DaemonCapabilities are those of a BuildKit daemon of its own, not an
// engine's: every platform, exporter and cache backend, with --load going
// to the engine whose store is described (straight into its containerd
// when this host reaches it).
func DaemonCapabilities(ep engine.Endpoint, store imagestore.Description, defaultLoad bool) Capabilities {
	return Capabilities{
		MultiPlatform: true,
		Load:          LoadEngineAPI,
		LoadEngine:    ep,
		ImageStore:    store.Kind,
		LoadLocation:  store.Location,
		Exporters:     []string{"local", "tar", "oci", "docker"},
		CacheExport:   true,
		DefaultLoad:   defaultLoad,
	}
}
