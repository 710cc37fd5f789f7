package rbac

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Scope is how far a principal reaches. Broader scopes compare greater.
type Scope uint8

// Scopes (seed 000 "Settings": Account, Service Provider, Admin).
const (
	// ScopeAccount reaches one account.
	ScopeAccount Scope = iota + 1
	// ScopeServiceProvider reaches the accounts of one service provider.
	ScopeServiceProvider
	// ScopeAdmin reaches everything.
	ScopeAdmin
)

var scopeNames = [...]string{ScopeAccount: "account", ScopeServiceProvider: "service_provider", ScopeAdmin: "admin"}

// String returns "account", "service_provider" or "admin".
func (s Scope) String() string {
	if s.Valid() {
		return scopeNames[s]
	}
	return fmt.Sprintf("scope(%d)", uint8(s))
}

// Valid reports whether s is one of the three scopes.
func (s Scope) Valid() bool { return s >= ScopeAccount && s <= ScopeAdmin }

// ParseScope parses "account", "service_provider" or "admin" (also "Service
// Provider" and other case and separator variants).
func ParseScope(v string) (Scope, error) {
	n := strings.ToLower(strings.NewReplacer(" ", "_", "-", "_").Replace(strings.TrimSpace(v)))
	for s := ScopeAccount; s <= ScopeAdmin; s++ {
		if scopeNames[s] == n {
			return s, nil
		}
	}
	return 0, fmt.Errorf("%w: scope %q: want account, service_provider or admin", ErrInvalid, v)
}

// MarshalText implements encoding.TextMarshaler.
func (s Scope) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("%w: scope %d", ErrInvalid, uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Scope) UnmarshalText(b []byte) error {
	v, err := ParseScope(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Entity is a platform entity privileges are granted on (seed 002 "Available
// Entities").
type Entity uint8

// Entities.
const (
	EntityOrganization Entity = iota
	EntityInteraction
	EntityUsage
	EntityAgent
	EntityBilling
	EntityLanguage
	EntityPhone
	EntitySubOrganization
	EntityTemplate
	// NumEntities is the number of entities.
	NumEntities
)

var entityNames = [NumEntities]string{"organization", "interaction", "usage", "agent", "billing", "language", "phone", "sub_organization", "template"}

// Entities returns every entity, in the order of the Access Control page.
func Entities() []Entity {
	out := make([]Entity, NumEntities)
	for i := range out {
		out[i] = Entity(i)
	}
	return out
}

// String returns the entity's name, for example "sub_organization".
func (e Entity) String() string {
	if e < NumEntities {
		return entityNames[e]
	}
	return fmt.Sprintf("entity(%d)", uint8(e))
}

// ParseEntity parses an entity name ("sub_organization", "Sub Organization").
func ParseEntity(v string) (Entity, error) {
	n := strings.ToLower(strings.NewReplacer(" ", "_", "-", "_").Replace(strings.TrimSpace(v)))
	for i, name := range entityNames {
		if name == n {
			return Entity(i), nil
		}
	}
	return 0, fmt.Errorf("%w: entity %q", ErrInvalid, v)
}

// Action is a set of the four permissions of an entity (seed 002: Can Read,
// Can Update, Can Delete, Can Create). A single action is a set of one.
type Action uint8

// Actions.
const (
	ActionRead Action = 1 << iota
	ActionUpdate
	ActionDelete
	ActionCreate
	// ActionAll is every action.
	ActionAll = ActionRead | ActionUpdate | ActionDelete | ActionCreate
)

var actionNames = [...]struct {
	a    Action
	name string
}{{ActionRead, "read"}, {ActionUpdate, "update"}, {ActionDelete, "delete"}, {ActionCreate, "create"}}

// Has reports whether every action of want is in a.
func (a Action) Has(want Action) bool { return a&want == want }

// Names returns the names of the actions in a ("read", "update", ...).
func (a Action) Names() []string {
	var out []string
	for _, n := range actionNames {
		if a&n.a != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// String returns the names joined with "|", or "none".
func (a Action) String() string {
	if a == 0 {
		return "none"
	}
	return strings.Join(a.Names(), "|")
}

// ParseAction parses one action name.
func ParseAction(v string) (Action, error) {
	n := strings.ToLower(strings.TrimSpace(v))
	for _, a := range actionNames {
		if a.name == n {
			return a.a, nil
		}
	}
	return 0, fmt.Errorf("%w: action %q: want read, update, delete or create", ErrInvalid, v)
}

// Advanced is a set of the advanced privileges of seed 002 ("Bot Change
// Control", "Bot Advanced Access").
type Advanced uint8

// Advanced privileges.
const (
	// PublishToProduction: switch bots to Production mode.
	PublishToProduction Advanced = 1 << iota
	// ChangeVoiceProcessor: change the bot's voice processor.
	ChangeVoiceProcessor
	// ChangeSTTProcessor: change the speech-to-text engine.
	ChangeSTTProcessor
	// ChangeLLM: change the large language model.
	ChangeLLM
	// FullAccessIntegrations: the Integrations tab and connected services.
	FullAccessIntegrations
	// ReadInteractionMetrics: interaction analytics and metrics.
	ReadInteractionMetrics
	// AdvancedAll is every advanced privilege.
	AdvancedAll = PublishToProduction | ChangeVoiceProcessor | ChangeSTTProcessor | ChangeLLM | FullAccessIntegrations | ReadInteractionMetrics
)

var advancedNames = [...]struct {
	a    Advanced
	name string
}{
	{PublishToProduction, "publish_to_production"},
	{ChangeVoiceProcessor, "change_voice_processor"},
	{ChangeSTTProcessor, "change_stt_processor"},
	{ChangeLLM, "change_llm"},
	{FullAccessIntegrations, "full_access_integrations"},
	{ReadInteractionMetrics, "read_interaction_metrics"},
}

// Has reports whether every privilege of want is in a.
func (a Advanced) Has(want Advanced) bool { return a&want == want }

// Names returns the names of the privileges in a.
func (a Advanced) Names() []string {
	var out []string
	for _, n := range advancedNames {
		if a&n.a != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// String returns the names joined with "|", or "none".
func (a Advanced) String() string {
	if a == 0 {
		return "none"
	}
	return strings.Join(a.Names(), "|")
}

// ParseAdvanced parses one advanced privilege name.
func ParseAdvanced(v string) (Advanced, error) {
	n := strings.ToLower(strings.TrimSpace(v))
	for _, a := range advancedNames {
		if a.name == n {
			return a.a, nil
		}
	}
	return 0, fmt.Errorf("%w: advanced privilege %q", ErrInvalid, v)
}

// Privileges are what a role grants: a set of actions per entity and a set of
// advanced privileges. It is a small value type (10 bytes) compared and
// checked without allocation.
type Privileges struct {
	Entities [NumEntities]Action
	Advanced Advanced
}

// AllPrivileges grants everything.
func AllPrivileges() Privileges {
	var p Privileges
	for i := range p.Entities {
		p.Entities[i] = ActionAll
	}
	p.Advanced = AdvancedAll
	return p
}

// Grant adds actions on e. Unknown entities are ignored.
func (p *Privileges) Grant(e Entity, a Action) *Privileges {
	if e < NumEntities {
		p.Entities[e] |= a & ActionAll
	}
	return p
}

// Allows reports whether p grants every action of a on e.
func (p *Privileges) Allows(e Entity, a Action) bool {
	return e < NumEntities && p.Entities[e]&a == a
}

// Contains reports whether p grants everything q grants (q is a subset of
// p). It does not allocate.
func (p *Privileges) Contains(q Privileges) bool {
	for i, a := range q.Entities {
		if p.Entities[i]&a != a {
			return false
		}
	}
	return p.Advanced&q.Advanced == q.Advanced
}

// Lacking returns "" when p contains q, else the first privilege of q that p
// lacks, for an error message: "delete billing" or "advanced privilege
// change_llm".
func (p *Privileges) Lacking(q Privileges) string {
	for i, a := range q.Entities {
		if miss := a &^ p.Entities[i]; miss != 0 {
			for _, n := range actionNames {
				if miss&n.a != 0 {
					return n.name + " " + entityNames[i]
				}
			}
		}
	}
	if miss := q.Advanced &^ p.Advanced; miss != 0 {
		for _, n := range advancedNames {
			if miss&n.a != 0 {
				return "advanced privilege " + n.name
			}
		}
	}
	return ""
}

// privilegesJSON is the JSON form:
//
//	{"entities": {"organization": ["read", "update"], ...},
//	 "advanced": ["change_llm", ...]}
type privilegesJSON struct {
	Entities map[string][]string `json:"entities"`
	Advanced []string            `json:"advanced"`
}

// MarshalJSON implements json.Marshaler.
func (p Privileges) MarshalJSON() ([]byte, error) {
	j := privilegesJSON{Entities: map[string][]string{}, Advanced: p.Advanced.Names()}
	for i, a := range p.Entities {
		if a != 0 {
			j.Entities[entityNames[i]] = a.Names()
		}
	}
	if j.Advanced == nil {
		j.Advanced = []string{}
	}
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler; unknown names are errors that
// name them.
func (p *Privileges) UnmarshalJSON(b []byte) error {
	var j privilegesJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var out Privileges
	for name, actions := range j.Entities {
		e, err := ParseEntity(name)
		if err != nil {
			return err
		}
		for _, an := range actions {
			a, err := ParseAction(an)
			if err != nil {
				return fmt.Errorf("entity %s: %w", name, err)
			}
			out.Entities[e] |= a
		}
	}
	for _, n := range j.Advanced {
		a, err := ParseAdvanced(n)
		if err != nil {
			return err
		}
		out.Advanced |= a
	}
	*p = out
	return nil
}
