#!/usr/bin/env python3
"""Prints compare.sh's comparison: the judge's figures per hardened root, the rules that passed
before and fail after refit-harden, and the hardening times.

Usage: summarize.py WORK DEVSEC(measured|reference) JUDGE_README "WALL CPU" "WALL CPU" ["WALL CPU"]
(the times of refit-harden's first and second run and of dev-sec's run, in seconds)
"""
import os
import re
import sys
import xml.etree.ElementTree as ET

NS = {'x': 'http://checklists.nist.gov/xccdf/1.2'}
PROFILES = [
    ('cis_level1_server', 'CIS L1 Server'),
    ('cis_level2_server', 'CIS L2 Server'),
    ('anssi_bp28_intermediary', 'ANSSI-BP-028 intermediary'),
    ('anssi_bp28_high', 'ANSSI-BP-028 high'),
    ('standard', 'standard'),
]


def scores(path):
    """Parses score.sh's output lines into {judge: {field: value}}."""
    out = {}
    if not os.path.exists(path):
        return out
    for line in open(path):
        parts = line.split()
        if not parts:
            continue
        name = parts[0].split(':')[-1]
        out[name] = dict(p.split('=', 1) for p in parts[1:] if '=' in p)
    return out


def results(path):
    """Rule id -> result of an XCCDF results file."""
    if not os.path.exists(path):
        return {}
    tr = ET.parse(path).getroot().find('.//x:TestResult', NS)
    return {rr.get('idref').replace('xccdf_org.ssgproject.content_rule_', ''): rr.find('x:result', NS).text
            for rr in tr.findall('x:rule-result', NS)}


def reference(readme):
    """The dev-sec column and timing of the judge README."""
    ref, seconds = {}, None
    text = open(readme).read()
    for pid, label in PROFILES:
        m = re.search(r'\| ' + re.escape(label) + r' \|[^|]*\| (\d+) / (\d+) \(([\d.]+) %, ([\d.]+)\) \|', text)
        if m:
            ref[pid] = {'pass': m.group(1), 'fail': m.group(2), 'pass_pct': m.group(3), 'score': m.group(4)}
    m = re.search(r'\| Lynis hardening index \|[^|]*\| (\d+) \((\d+) tests, (\d+) suggestions\) \|', text)
    if m:
        ref['lynis'] = {'hardening_index': m.group(1), 'tests': m.group(2), 'suggestions': m.group(3)}
    m = re.search(r'took \*\*(\d+) s\*\*', text)
    if m:
        seconds = float(m.group(1))
    return ref, seconds


def cell(s, pid):
    v = s.get(pid)
    if not v:
        return 'n/a'
    if pid == 'lynis':
        return '%s (%s suggestions)' % (v.get('hardening_index', '?'), v.get('suggestions', '?'))
    return '%s / %s (%s %%, %s)' % (v.get('pass'), v.get('fail'), v.get('pass_pct'), v.get('score'))


def main():
    work, devsec_mode, readme = sys.argv[1], sys.argv[2], sys.argv[3]
    times = lambda i: [float(x) for x in sys.argv[i].split()] if len(sys.argv) > i and sys.argv[i].strip() else [None, None]
    (refit_s, refit_cpu), (rerun_s, rerun_cpu), (devsec_s, devsec_cpu) = times(4), times(5), times(6)
    pristine = scores(os.path.join(work, 'score-pristine.txt'))
    refit = scores(os.path.join(work, 'score-refit.txt'))
    if devsec_mode == 'measured':
        devsec = scores(os.path.join(work, 'score-devsec.txt'))
        devsec_label = 'dev-sec (measured)'
    else:
        devsec, devsec_s = reference(readme)
        devsec_cpu = None
        devsec_label = 'dev-sec (judge README)'
    print()
    print('| judge: pass / fail (pass %%, score) | pristine | %s | refit-harden |' % devsec_label)
    print('|---|---|---|---|')
    for pid, label in PROFILES + [('lynis', 'Lynis hardening index')]:
        print('| %s | %s | %s | %s |' % (label, cell(pristine, pid), cell(devsec, pid), cell(refit, pid)))
    print()
    for pid, label in PROFILES:
        before = results(os.path.join(work, 'score-pristine', 'ssg-0.1.81-%s.xml' % pid))
        after = results(os.path.join(work, 'score-refit', 'ssg-0.1.81-%s.xml' % pid))
        lost = sorted(r for r, v in before.items() if v == 'pass' and after.get(r) != 'pass')
        more = int(refit.get(pid, {}).get('pass', 0)) - int(devsec.get(pid, {}).get('pass', 0))
        print('%-26s rules passing before and not after refit-harden: %d%s; passing vs dev-sec: %+d'
              % (label, len(lost), (' (' + ', '.join(lost) + ')') if lost else '', more))
    print()
    print('hardening time: refit-harden %.1f s wall, %.1f s CPU (second run, no changes: %.1f s wall, %.1f s CPU)'
          % (refit_s, refit_cpu, rerun_s, rerun_cpu))
    if devsec_s:
        line = '                dev-sec %.1f s wall%s -> refit-harden is %.0fx faster' % (
            devsec_s, '' if devsec_mode == 'measured' else ' (README)', devsec_s / refit_s)
        if devsec_cpu:
            line += '; %.1f s CPU -> %.0fx less CPU' % (devsec_cpu, devsec_cpu / refit_cpu)
        print(line)


if __name__ == '__main__':
    main()
