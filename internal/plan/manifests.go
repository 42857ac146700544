package plan

import (
	"io"

	"github.com/linkage-platform/linkage/internal/manifests"
	"github.com/linkage-platform/linkage/internal/pulumimock"
)

// Manifests are the Kubernetes objects the stack declares, built from their recorded inputs. With
// redact, secret values read "[secret]" (for people); without, they are the mocked values (for strict
// decoding, where "[secret]" would not be valid base64).
func (p *Plan) Manifests(redact bool) []manifests.Object {
	var out []manifests.Object
	for _, r := range p.Resources {
		if o, ok := manifests.New(r.URN, r.Type, pulumimock.Plain(r.Inputs, redact)); ok {
			out = append(out, o)
		}
	}
	return out
}

// WriteManifests checks every manifest strictly and writes them as one YAML stream, secrets redacted.
func (p *Plan) WriteManifests(w io.Writer) error {
	if err := manifests.CheckAll(p.Manifests(false)); err != nil {
		return err
	}
	return manifests.WriteYAML(w, p.Manifests(true))
}
