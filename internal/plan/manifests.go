package plan

import (
	"io"

	"github.com/linkage-platform/linkage/internal/manifests"
	"github.com/linkage-platform/linkage/internal/pulumimock"
)

// Manifests are the Kubernetes objects the stack declares, built from their recorded inputs. With
// redact, each secret value reads "[secret]" where the value was, maps keeping their keys (for people,
// and valid for the API server: a Secret's stringData stays a map); without, they are the mocked
// values (for strict decoding, where "[secret]" would not be valid base64).
func (p *Plan) Manifests(redact bool) []manifests.Object {
	var out []manifests.Object
	for _, r := range p.Resources {
		inputs := pulumimock.Plain(r.Inputs, false)
		if redact {
			inputs = pulumimock.Masked(r.Inputs)
		}
		if o, ok := manifests.New(r.URN, r.Type, inputs); ok {
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
