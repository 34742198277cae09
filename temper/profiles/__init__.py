"""Workload Profiles (issue 11): name the thread groups inside a pod and treat each differently.

Pure core, no I/O: ``comm`` (thread-name matchers compiled to the BPF form), ``model``
(profiles, YAML parsing with line numbers, lint), ``builtins`` (shipped profiles),
``select`` (which profile a pod gets, and why), ``entitle`` (what a pod's tier allows),
``kernel`` (the BPF map layouts the kernel part will read). See docs/profiles.md.
"""
