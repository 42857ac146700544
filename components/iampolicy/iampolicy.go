// Package iampolicy is AWS IAM policy documents as Go values: the components build their policies with
// it, so that no policy is ever assembled by string concatenation, and the policy checks
// (internal/policy) read back exactly what the components declare.
package iampolicy

import (
	"encoding/json"
	"fmt"
)

// Version is the current IAM policy language version.
const Version = "2012-10-17"

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement. Action, Resource and principal values may be a string or a list in JSON;
// they are always lists here.
type Statement struct {
	Sid       string                        `json:"Sid,omitempty"`
	Effect    string                        `json:"Effect"`
	Principal Principal                     `json:"Principal,omitempty"`
	Action    Strings                       `json:"Action,omitempty"`
	NotAction Strings                       `json:"NotAction,omitempty"`
	Resource  Strings                       `json:"Resource,omitempty"`
	Condition map[string]map[string]Strings `json:"Condition,omitempty"`
}

// Principal maps a principal kind ("AWS", "Service", "Federated") to principals. The JSON form "*"
// (anyone) is the kind "*" with the value "*".
type Principal map[string]Strings

// UnmarshalJSON accepts "*" and {"Kind": "x" | ["x", ...]}.
func (p *Principal) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*p = Principal{"*": {s}}
		return nil
	}
	var m map[string]Strings
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("principal: %w", err)
	}
	*p = m
	return nil
}

// MarshalJSON writes the anyone principal as "*".
func (p Principal) MarshalJSON() ([]byte, error) {
	if v, ok := p["*"]; ok && len(p) == 1 && len(v) == 1 && v[0] == "*" {
		return []byte(`"*"`), nil
	}
	return json.Marshal(map[string]Strings(p))
}

// Strings is a list that also accepts a single JSON string.
type Strings []string

// UnmarshalJSON accepts "x" and ["x", "y"].
func (s *Strings) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = Strings{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	*s = many
	return nil
}

// New returns a document of the statements.
func New(statements ...Statement) Document {
	return Document{Version: Version, Statement: statements}
}

// Allow is an Allow statement for actions on resources.
func Allow(sid string, actions []string, resources ...string) Statement {
	return Statement{Sid: sid, Effect: "Allow", Action: actions, Resource: resources}
}

// ServiceTrust lets an AWS service (e.g. "ec2.amazonaws.com") assume the role.
func ServiceTrust(service string) Document {
	return New(Statement{
		Effect:    "Allow",
		Principal: Principal{"Service": {service}},
		Action:    Strings{"sts:AssumeRole"},
	})
}

// JSON renders the document.
func (d Document) JSON() string {
	b, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("iampolicy: a document of plain strings always marshals: %v", err))
	}
	return string(b)
}

// Parse reads a policy document.
func Parse(doc string) (Document, error) {
	var d Document
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return Document{}, fmt.Errorf("parse IAM policy: %w", err)
	}
	return d, nil
}
