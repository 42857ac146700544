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
	out := make(map[string]any, len(pm))
	for k, v := range pm {
		out[string(k)] = plainValue(v, redact)
	}
	return out
}

func plainValue(v resource.PropertyValue, redact bool) any {
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
			out[i] = plainValue(e, redact)
		}
		return out
	case v.IsObject():
		return Plain(v.ObjectValue(), redact)
	case v.IsSecret():
		if redact {
			return Redacted
		}
		return plainValue(v.SecretValue().Element, redact)
	case v.IsOutput():
		o := v.OutputValue()
		if o.Secret && redact {
			return Redacted
		}
		if !o.Known {
			return Unknown
		}
		return plainValue(o.Element, redact)
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
