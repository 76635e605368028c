package container

import (
	"context"
	"errors"
	"net"

	dockerclient "github.com/moby/moby/client"
)

// Dial opens a raw connection to BuildKit in the container (through
// `buildctl dial-stdio`, as Client does), for a caller that runs its own
// gRPC client (dial-stdio). Closing it closes the engine client too.
func (d *Driver) Dial(ctx context.Context) (net.Conn, error) {
	api, err := d.endpoint.Client()
	if err != nil {
		return nil, err
	}
	conn, err := dialStdio(ctx, api, d.name())
	if err != nil {
		api.Close()
		return nil, err
	}
	return &engineConn{Conn: conn, api: api}, nil
}

// engineConn is a connection that owns the engine client it runs over.
type engineConn struct {
	net.Conn
	api *dockerclient.Client
}

func (c *engineConn) Close() error {
	return errors.Join(c.Conn.Close(), c.api.Close())
}
