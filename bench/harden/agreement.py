#!/usr/bin/env python3
"""agreement.py SSGMAP AUDITOUT JUDGEDIR: refit-harden's audit verdicts against the outside judge's.

SSGMAP    JSON written by `go run ./bench/harden/render -config CONFIG -ssg`: the SCAP Security
          Guide rules each refit rule answers.
AUDITOUT  the output of the program rendered from CONFIG with "Audit": true, run on a root
          (its REFIT-RULE lines).
JUDGEDIR  the judge's (score.sh) output folder for the same root: ssg-*-<profile>.xml results.

On the rules both check (a refit rule reported compliant or would change, at least one of whose
SSG rules the judge decided, pass or fail, in one of the four profiles of PROFILES), the verdicts agree when the
refit rule is compliant exactly when every such decided SSG rule passes. Prints the agreement and
each disagreement with the SSG rules behind it.
"""
import glob
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

NS = '{http://checklists.nist.gov/xccdf/1.2}'
PREFIX = 'xccdf_org.ssgproject.content_rule_'
# the SSG profiles refit's profiles answer (score.sh's "standard" is left out)
PROFILES = ('cis_level1_server', 'cis_level2_server', 'anssi_bp28_intermediary', 'anssi_bp28_high')


def judge_results(folder):
    """{ssg rule: {profile: result}} for every results XML in folder."""
    out = {}
    for path in sorted(glob.glob(os.path.join(folder, 'ssg-*.xml'))):
        profile = re.sub(r'^ssg-[0-9.]+-', '', os.path.basename(path)[:-4])
        if profile not in PROFILES:
            continue
        for _, el in ET.iterparse(path):
            if el.tag == NS + 'rule-result':
                rid = el.get('idref', '').replace(PREFIX, '')
                out.setdefault(rid, {})[profile] = el.find(NS + 'result').text
                el.clear()
    return out


def audit_verdicts(path):
    """{refit rule: status} from the REFIT-RULE lines of an audit run."""
    out = {}
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            parts = line.rstrip('\n').split('\t')
            if len(parts) >= 3 and parts[0] == 'REFIT-RULE':
                out[parts[1]] = parts[2]
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    refs = json.load(open(sys.argv[1]))
    verdicts = audit_verdicts(sys.argv[2])
    judged = judge_results(sys.argv[3])
    if not verdicts or not judged:
        sys.exit('agreement.py: no audit verdicts or no judge results')
    both = agree = 0
    for rule in sorted(refs):
        status = verdicts.get(rule)
        if status not in ('compliant', 'would change'):
            continue
        decided = [(ssg, p, r) for ssg in refs[rule] for p, r in sorted(judged.get(ssg, {}).items()) if r in ('pass', 'fail')]
        if not decided:
            continue
        both += 1
        judge_ok = all(r == 'pass' for _, _, r in decided)
        if (status == 'compliant') == judge_ok:
            agree += 1
        else:
            fails = sorted({'%s (%s)' % (s, p) for s, p, r in decided if r == 'fail'})
            print('differ: %s: refit %s; judge %s%s' % (rule, status, 'pass' if judge_ok else 'fail',
                                                       ': ' + ', '.join(fails) if fails else ''))
    print('agreement: %d of %d rules both check (%.1f %%)' % (agree, both, 100.0 * agree / both if both else 0))


if __name__ == '__main__':
    main()
