package exporter

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	dockerclient "github.com/moby/moby/client"
	digest "github.com/opencontainers/go-digest"

	"github.com/xbuild/xbuild/engine"
)

// errPushByDigest: the engine's push endpoint pushes tags only.
var errPushByDigest = errors.New("push-by-digest=true is not supported by the docker driver on the classic image store, which pushes by tag: turn on the containerd image store or use another driver")

// prepareEnginePush makes Finish push every name of an image output through
// the engine, after the engine's own exporter has stored the image. It
// fails before any work for what that push cannot do.
func prepareEnginePush(ex *Export, attrs map[string]string, ep engine.Endpoint, creds func(string) (string, string, error)) error {
	if b, _ := strconv.ParseBool(attrs["push-by-digest"]); b {
		return errPushByDigest
	}
	names, err := normalizedNames(attrs["name"])
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return errors.New("pushing needs an image name: add -t NAME or name= to the output")
	}
	ex.onFinish(func(ctx context.Context, resp map[string]string, solveErr error, pr Progress) error {
		if solveErr != nil {
			return nil
		}
		var pushed digest.Digest
		for _, name := range names {
			d, err := pushStep(ctx, ep, name, creds, pr)
			if err != nil {
				return err
			}
			if pushed == "" {
				pushed = d
			}
		}
		recordPush(resp, pushed)
		return nil
	})
	return nil
}

// recordPush puts the pushed manifest's digest where a native push would:
// containerimage.digest, the engine's image ID kept as the config digest.
func recordPush(resp map[string]string, pushed digest.Digest) {
	if resp == nil || pushed == "" {
		return
	}
	if _, ok := resp[KeyConfigDigest]; !ok && resp[KeyDigest] != "" {
		resp[KeyConfigDigest] = resp[KeyDigest]
	}
	resp[KeyDigest] = pushed.String()
	// A descriptor describes the engine's local image, not what the
	// registry now holds.
	delete(resp, KeyDescriptor)
}

// pushStep pushes one name through the engine, shown as a step of its own.
func pushStep(ctx context.Context, ep engine.Endpoint, name string, creds func(string) (string, string, error), pr Progress) (digest.Digest, error) {
	var st Step = discardStep{}
	if pr != nil {
		st = pr.Step(fmt.Sprintf("pushing %s with docker", name))
	}
	d, err := enginePush(ctx, ep, name, creds, st)
	if err != nil {
		err = fmt.Errorf("pushing %s with docker engine at %s: %w", name, ep.Host, err)
	}
	st.Done(err)
	return d, err
}

// enginePush asks the engine to push name and reads its answer to the end:
// the engine reports a refused push only in the stream. It returns the
// digest the registry now holds.
func enginePush(ctx context.Context, ep engine.Endpoint, name string, creds func(string) (string, string, error), st Step) (digest.Digest, error) {
	auth, err := encodedAuth(name, creds)
	if err != nil {
		return "", err
	}
	api, err := ep.Client()
	if err != nil {
		return "", err
	}
	defer api.Close()
	res, err := api.ImagePush(ctx, name, dockerclient.ImagePushOptions{RegistryAuth: auth})
	if err != nil {
		return "", err
	}
	var pushed digest.Digest
	for m, err := range res.JSONMessages(ctx) {
		if err != nil {
			return "", err
		}
		if m.Error != nil {
			return "", errors.New(m.Error.Message)
		}
		if d := auxDigest(m); d != "" {
			pushed = d
		}
		logPushMessage(st, m)
	}
	if pushed == "" {
		return "", errors.New("the engine reported no pushed digest")
	}
	return pushed, nil
}

// auxDigest is the digest in the engine's closing push message.
func auxDigest(m jsonstream.Message) digest.Digest {
	if m.Aux == nil {
		return ""
	}
	var aux struct{ Digest digest.Digest }
	if json.Unmarshal(*m.Aux, &aux) != nil || aux.Digest.Validate() != nil {
		return ""
	}
	return aux.Digest
}

// logPushMessage shows a layer's state changes, not every byte counted.
func logPushMessage(st Step, m jsonstream.Message) {
	if m.Status == "" || m.Progress != nil || m.Status == "Preparing" || m.Status == "Waiting" {
		return
	}
	if m.ID != "" {
		st.Log("%s: %s", m.ID, m.Status)
		return
	}
	st.Log("%s", m.Status)
}

// encodedAuth is the X-Registry-Auth value for name's registry: base64url
// JSON, empty when this side has no credentials for it.
func encodedAuth(name string, creds func(string) (string, string, error)) (string, error) {
	if creds == nil {
		return "", nil
	}
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", fmt.Errorf("invalid image name %q: %w", name, err)
	}
	host := reference.Domain(ref)
	if host == "docker.io" {
		host = "registry-1.docker.io"
	}
	user, secret, err := creds(host)
	if err != nil {
		return "", fmt.Errorf("reading credentials for %s: %w", host, err)
	}
	ac := registry.AuthConfig{ServerAddress: host, Username: user, Password: secret}
	if user == "" && secret != "" {
		ac = registry.AuthConfig{ServerAddress: host, IdentityToken: secret}
	}
	if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" {
		return "", nil
	}
	data, err := json.Marshal(ac)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(data), nil
}

type discardStep struct{}

func (discardStep) Log(string, ...any) {}
func (discardStep) Done(error)         {}
