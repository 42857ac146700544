package pulumimock

import "github.com/pulumi/pulumi/sdk/v3/go/common/resource"

// Redacted replaces secret values when Plain is asked to redact.
const Redacted = "[secret]"

// Unknown stands for a value not known until the resources exist.
const Unknown = "[unknown]"

// Plain converts a property map to plain Go values (map[string]any, []any, string, float64, bool, nil)
// ready for JSON. Secrets become Redacted when redact is set and are revealed otherwise; resource
// references become their URN.
func Plain(pm resource.PropertyMap, redact bool) map[string]any {
	if redact {
		return plainMap(pm, redactWhole)
	}
	return plainMap(pm, reveal)
}

// Masked is Plain redacting secrets leaf by leaf: a secret map or list keeps its keys and length and
// each value in it reads Redacted. Manifests need this shape: a Secret's stringData stays a map.
func Masked(pm resource.PropertyMap) map[string]any { return plainMap(pm, redactLeaves) }

// secrets is how plainValue renders a secret.
type secrets int

const (
	reveal       secrets = iota
	redactWhole          // the whole secret value becomes Redacted
	redactLeaves         // each scalar in it becomes Redacted
)

func plainMap(pm resource.PropertyMap, mode secrets) map[string]any {
	out := make(map[string]any, len(pm))
	for k, v := range pm {
		out[string(k)] = plainValue(v, mode)
	}
	return out
}

// hide renders a secret's element in mode.
func hide(element resource.PropertyValue, mode secrets) any {
	if mode == redactWhole {
		return Redacted
	}
	return leaves(plainValue(element, reveal))
}

// leaves replaces every scalar of a plain value with Redacted.
func leaves(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = leaves(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = leaves(e)
		}
		return out
	case nil:
		return nil
	}
	return Redacted
}

func plainValue(v resource.PropertyValue, mode secrets) any {
	switch {
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = plainValue(e, mode)
		}
		return out
	case v.IsObject():
		return plainMap(v.ObjectValue(), mode)
	case v.IsSecret():
		if mode != reveal {
			return hide(v.SecretValue().Element, mode)
		}
		return plainValue(v.SecretValue().Element, mode)
	case v.IsOutput():
		o := v.OutputValue()
		if o.Secret && mode != reveal {
			return hide(o.Element, mode)
		}
		if !o.Known {
			return Unknown
		}
		return plainValue(o.Element, mode)
	case v.IsComputed():
		return Unknown
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	case v.IsAsset():
		a := v.AssetValue()
		return map[string]any{"asset": firstNonEmpty(a.Path, a.URI, "[inline text]"), "hash": a.Hash}
	case v.IsArchive():
		a := v.ArchiveValue()
		return map[string]any{"archive": firstNonEmpty(a.Path, a.URI, "[assets]"), "hash": a.Hash}
	}
	return v.String()
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
