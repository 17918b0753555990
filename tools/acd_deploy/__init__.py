"""The real ``template.yaml`` deployed as AWS deploys it, into an independent AWS emulator.

``make deploy-test`` starts MiniStack (its own virtual environment, ``.venv-ministack``) on a free
loopback port with IAM enforced, deploys the template with the project's own ``sam build`` and
``sam deploy`` and runs ``tests/deploy`` through the deployed stack. The parts:

* :mod:`acd_deploy.emulator`: the MiniStack process (start, health, stop, kill -9, memory);
* :mod:`acd_deploy.workarounds`: each gap of the emulator bridged, by name, with why;
* :mod:`acd_deploy.stack`: the SSM token, ``sam build``/``sam deploy``, the stack's outputs;
* :mod:`acd_deploy.compare`: the same simulated day through acd-local and the deployed stack.
"""
