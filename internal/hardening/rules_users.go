package hardening

import (
	"fmt"
	"slices"
	"strings"
)

// userRule is a rule of the user blocks or remove_users: its check and apply are calls of the
// prelude's helper pair refit_<helper>_is and refit_<helper>_set with the same quoted arguments.
func userRule(id, title, changes, helper string, args ...string) Rule {
	call := " " + shWords(args...)
	return Rule{
		ID: id, Group: GroupUsers, Title: title, Changes: changes,
		check: "refit_" + helper + "_is" + call,
		apply: "refit_" + helper + "_set" + call,
	}
}

// userRules are the rules of the user blocks and remove_users, in order: groups, then each user,
// then removals.
func userRules(c Config) []Rule {
	var rules []Rule
	var groups []string
	for _, u := range c.Users {
		for _, g := range u.Groups {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	for _, g := range groups {
		rules = append(rules, userRule("group."+g, "group "+g+" exists",
			"Creates the group (`groupadd`) when it is missing.", "group", g))
	}
	for _, u := range c.Users {
		rules = append(rules, oneUserRules(u)...)
	}
	for _, name := range c.RemoveUsers {
		rules = append(rules, userRule("user."+name+".absent", "user "+name+" does not exist",
			"Deletes the account with its home directory and mail spool (`userdel -r`), and its refit sudo drop-in.",
			"user_absent", name))
	}
	return rules
}

func oneUserRules(u User) []Rule {
	id := "user." + u.Name
	var rules []Rule

	// account: exists, with the shell and (at least) the groups asked for.
	changes := "Creates the account (`useradd -m`, with a user group and /etc/skel) when missing"
	if u.Shell != "" {
		changes += ", sets the login shell to `" + u.Shell + "`"
	}
	if len(u.Groups) > 0 {
		changes += ", and adds it to the groups `" + strings.Join(u.Groups, "`, `") + "` (other memberships stay)"
	}
	rules = append(rules, userRule(id+".account", "user "+u.Name+" exists", changes+".",
		"user_account", append([]string{u.Name, u.Shell}, u.Groups...)...))

	rules = append(rules, userRule(id+".home", fmt.Sprintf("home of %s is %s and owned by it", u.Name, u.HomeMode),
		"Creates the home directory when missing, sets its mode to `home_mode` and its owner to the user and the user's group.",
		"user_home", u.Name, u.HomeMode))

	if len(u.SSHAuthorizedKeys) > 0 {
		keys := []string{u.Name}
		for _, k := range u.SSHAuthorizedKeys {
			keys = append(keys, strings.TrimSpace(k))
		}
		rules = append(rules, userRule(id+".authorized-keys", fmt.Sprintf("%s logs in with its %d SSH key(s)", u.Name, len(u.SSHAuthorizedKeys)),
			"Writes exactly the configured keys to `~/.ssh/authorized_keys` (0600, in `~/.ssh` 0700, both owned by the user); refuses symlinks there.",
			"user_keys", keys...))
	}

	sudoChanges := "`sudo = \"password\"` or `\"nopasswd\"`: writes `/etc/sudoers.d/90-refit-user-<name>` (0440) granting all commands, validated with `visudo -c` (sudo is installed first when missing)."
	if u.Sudo == SudoNone {
		sudoChanges = "`sudo = \"none\"`: removes `/etc/sudoers.d/90-refit-user-<name>` when present."
	}
	rules = append(rules, userRule(id+".sudo", "sudo for "+u.Name+": "+u.Sudo, sudoChanges, "user_sudo", u.Name, u.Sudo))

	if !u.KeepPassword {
		rules = append(rules, userRule(id+".password", "password login of "+u.Name+" is locked",
			"Locks the password (`usermod -L`: `!` before the hash in `/etc/shadow`), so that only key-based logins work; `keep_password` leaves it.",
			"user_locked", u.Name))
	}
	return rules
}
