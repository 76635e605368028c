package exporter

import (
	"context"
	"io"

	"github.com/xbuild/xbuild/engine"
)

// EngineLoader loads archives through the Docker Engine API's image load
// endpoint.
type EngineLoader struct{}

var _ Loader = EngineLoader{}

// Load implements Loader.
func (EngineLoader) Load(ctx context.Context, ep engine.Endpoint, r io.Reader) error {
	api, err := ep.Client()
	if err != nil {
		return err
	}
	defer api.Close()
	res, err := api.ImageLoad(ctx, r)
	if err != nil {
		return err
	}
	defer res.Close()
	return engine.ReadLoadStream(res)
}
