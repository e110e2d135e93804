package hardening

import (
	"fmt"
	"slices"
	"strings"
)

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
		rules = append(rules, Rule{
			ID: "group." + g, Group: GroupUsers, Title: "group " + g + " exists",
			Changes: "Creates the group (`groupadd`) when it is missing.",
			check:   fmt.Sprintf("refit_group_exists %s || refit_detail %s", shq(g), shq("group "+g+" does not exist")),
			apply:   fmt.Sprintf("refit_run groupadd %s && REFIT_DETAIL=%s", shq(g), shq("created group "+g)),
		})
	}
	for _, u := range c.Users {
		rules = append(rules, oneUserRules(u)...)
	}
	for _, name := range c.RemoveUsers {
		q := shq(name)
		rules = append(rules, Rule{
			ID: "user." + name + ".absent", Group: GroupUsers, Title: "user " + name + " does not exist",
			Changes: "Deletes the account with its home directory and mail spool (`userdel -r`), and its refit sudo drop-in.",
			check: fmt.Sprintf(`if refit_user_exists %s; then refit_detail %s; return 1; fi
[ ! -e /etc/sudoers.d/90-refit-user-%s ] || refit_detail "a refit sudo drop-in for %s remains"`, q, shq("user "+name+" exists"), name, name),
			apply: fmt.Sprintf(`if refit_user_exists %s && ! refit_run userdel -r %s && refit_user_exists %s; then return 1; fi
rm -f /etc/sudoers.d/90-refit-user-%s
REFIT_DETAIL=%s`, q, q, q, name, shq("deleted user "+name)),
		})
	}
	return rules
}

func oneUserRules(u User) []Rule {
	name := shq(u.Name)
	id := "user." + u.Name
	groups := strings.Join(u.Groups, ",")
	var rules []Rule

	// account: exists, with the shell and (at least) the groups asked for.
	check := fmt.Sprintf(`refit_user_exists %s || refit_detail "user %s does not exist" || return 1`, name, u.Name)
	apply := fmt.Sprintf(`if ! refit_user_exists %s; then
	refit_shell=%s
	[ -n "$refit_shell" ] || refit_shell=/bin/bash
	[ -x "$refit_shell" ] || refit_shell=/bin/sh
	set -- -m -s "$refit_shell"
	[ -z %s ] || set -- "$@" -G %s
	refit_run useradd "$@" %s || return 1
	REFIT_DETAIL="created user %s"
	return 0
fi
refit_details=`, name, shq(u.Shell), shq(groups), shq(groups), name, u.Name)
	changes := "Creates the account (`useradd -m`, with a user group and /etc/skel) when missing"
	if u.Shell != "" {
		check += fmt.Sprintf("\n[ \"$(awk -F: -v u=%s '$1 == u { print $7 }' /etc/passwd)\" = %s ] || refit_detail %s || return 1", name, shq(u.Shell), shq("the shell of "+u.Name+" is not "+u.Shell))
		apply += fmt.Sprintf("\nif [ \"$(awk -F: -v u=%s '$1 == u { print $7 }' /etc/passwd)\" != %s ]; then refit_run usermod -s %s %s || return 1; refit_details=\"shell %s\"; fi", name, shq(u.Shell), shq(u.Shell), name, u.Shell)
		changes += ", sets the login shell to `" + u.Shell + "`"
	}
	for _, g := range u.Groups {
		check += fmt.Sprintf("\nrefit_in_group %s %s || refit_detail %s || return 1", name, shq(g), shq(u.Name+" is not in group "+g))
		apply += fmt.Sprintf("\nif ! refit_in_group %s %s; then refit_run usermod -a -G %s %s || return 1; refit_details=\"$refit_details +%s\"; fi", name, shq(g), shq(g), name, g)
	}
	if len(u.Groups) > 0 {
		changes += ", and adds it to the groups `" + strings.Join(u.Groups, "`, `") + "` (other memberships stay)"
	}
	apply += "\nREFIT_DETAIL=\"updated " + u.Name + ":$refit_details\""
	rules = append(rules, Rule{ID: id + ".account", Group: GroupUsers, Title: "user " + u.Name + " exists", Changes: changes + ".", check: check, apply: apply})

	rules = append(rules, Rule{
		ID: id + ".home", Group: GroupUsers, Title: fmt.Sprintf("home of %s is %s and owned by it", u.Name, u.HomeMode),
		Changes: "Creates the home directory when missing, sets its mode to `home_mode` and its owner to the user and the user's group.",
		check: fmt.Sprintf(`refit_home=$(refit_user_home %s) || refit_detail "user %s has no home directory in /etc/passwd" || return 1
[ -d "$refit_home" ] || refit_detail "$refit_home is missing" || return 1
refit_st=$(stat -c '%%a %%U:%%G' "$refit_home")
[ "$refit_st" = "%s %s:$(id -gn %s)" ] || refit_detail "$refit_home is $refit_st"`, name, u.Name, strings.TrimPrefix(u.HomeMode, "0"), u.Name, name),
		apply: fmt.Sprintf(`refit_home=$(refit_user_home %s) || refit_detail "user %s has no home directory in /etc/passwd" || return 1
[ -d "$refit_home" ] || mkdir -p "$refit_home" || return 1
chown %s:"$(id -gn %s)" "$refit_home" && chmod %s "$refit_home" || return 1
REFIT_DETAIL="$refit_home: %s"`, name, u.Name, name, name, u.HomeMode, u.HomeMode),
	})

	if len(u.SSHAuthorizedKeys) > 0 {
		var keys strings.Builder
		keys.WriteString("# Managed by refit-harden: ssh_authorized_keys of user " + u.Name + ".\n")
		for _, k := range u.SSHAuthorizedKeys {
			keys.WriteString(strings.TrimSpace(k) + "\n")
		}
		content := shq(keys.String())
		rules = append(rules, Rule{
			ID: id + ".authorized-keys", Group: GroupUsers, Title: fmt.Sprintf("%s logs in with its %d SSH key(s)", u.Name, len(u.SSHAuthorizedKeys)),
			Changes: "Writes exactly the configured keys to `~/.ssh/authorized_keys` (0600, in `~/.ssh` 0700, both owned by the user); refuses symlinks there.",
			check: fmt.Sprintf(`refit_home=$(refit_user_home %s) || refit_detail "user %s has no home directory in /etc/passwd" || return 1
refit_grp=$(id -gn %s) || return 1
[ -d "$refit_home/.ssh" ] && [ ! -L "$refit_home/.ssh" ] || refit_detail "$refit_home/.ssh is missing" || return 1
[ "$(stat -c '%%a %%U:%%G' "$refit_home/.ssh")" = "700 %s:$refit_grp" ] || refit_detail "$refit_home/.ssh is not 0700 %s" || return 1
refit_file_is "$refit_home/.ssh/authorized_keys" 0600 "%s:$refit_grp" %s`, name, u.Name, name, u.Name, u.Name, u.Name, content),
			apply: fmt.Sprintf(`refit_home=$(refit_user_home %s) || refit_detail "user %s has no home directory in /etc/passwd" || return 1
refit_grp=$(id -gn %s) || return 1
if [ -L "$refit_home/.ssh" ] || [ -L "$refit_home/.ssh/authorized_keys" ]; then
	REFIT_DETAIL="$refit_home/.ssh or its authorized_keys is a symlink: not following it"
	return 1
fi
[ -d "$refit_home/.ssh" ] || mkdir "$refit_home/.ssh" || return 1
chown %s:"$refit_grp" "$refit_home/.ssh" && chmod 0700 "$refit_home/.ssh" || return 1
refit_put "$refit_home/.ssh/authorized_keys" 0600 "%s:$refit_grp" %s`, name, u.Name, name, u.Name, u.Name, content),
		})
	}

	sudoFile := "/etc/sudoers.d/90-refit-user-" + u.Name
	sudoRule := Rule{ID: id + ".sudo", Group: GroupUsers, Title: "sudo for " + u.Name + ": " + u.Sudo}
	switch u.Sudo {
	case SudoNone:
		sudoRule.Changes = "`sudo = \"none\"`: removes `/etc/sudoers.d/90-refit-user-<name>` when present."
		sudoRule.check = fmt.Sprintf(`[ ! -e %s ] || refit_detail "%s exists"`, sudoFile, sudoFile)
		sudoRule.apply = fmt.Sprintf(`rm -f %s && REFIT_DETAIL="removed %s"`, sudoFile, sudoFile)
	default:
		spec := u.Name + " ALL=(ALL:ALL) ALL"
		if u.Sudo == SudoNoPasswd {
			spec = u.Name + " ALL=(ALL:ALL) NOPASSWD: ALL"
		}
		content := shq("# Managed by refit-harden: sudo = \"" + u.Sudo + "\" for user " + u.Name + ".\n" + spec + "\n")
		sudoRule.Changes = "`sudo = \"password\"` or `\"nopasswd\"`: writes `/etc/sudoers.d/90-refit-user-<name>` (0440) granting all commands, validated with `visudo -c` (sudo is installed first when missing)."
		sudoRule.check = fmt.Sprintf(`refit_file_is %s 0440 root:root %s`, sudoFile, content)
		sudoRule.apply = fmt.Sprintf(`if ! refit_has visudo; then refit_pkg_install sudo || return 1; fi
refit_sudoers_put %s %s`, sudoFile, content)
	}
	rules = append(rules, sudoRule)

	if !u.KeepPassword {
		rules = append(rules, Rule{
			ID: id + ".password", Group: GroupUsers, Title: "password login of " + u.Name + " is locked",
			Changes: "Locks the password (`usermod -L`: `!` before the hash in `/etc/shadow`), so that only key-based logins work; `keep_password` leaves it.",
			check: fmt.Sprintf(`refit_pw=$(awk -F: -v u=%s '$1 == u { print substr($2, 1, 1); found = 1 } END { if (!found) print "?" }' /etc/shadow)
case $refit_pw in '!' | '*') return 0 ;; '?') refit_detail "%s is not in /etc/shadow"; return 1 ;; esac
refit_detail "the password of %s is not locked"`, name, u.Name, u.Name),
			apply: fmt.Sprintf(`refit_run usermod -L %s && REFIT_DETAIL="locked the password of %s"`, name, u.Name),
		})
	}
	return rules
}
