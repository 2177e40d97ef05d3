"""The deploy CLI behind scripts/deploy/deploy.sh (`python -m pls_deploy`): build, push and deploy
the pls-service bento to AWS ECS Fargate with the Terraform module in terraform/.

How it is built: each command is a plan, a generator of small actions (a command to run, an AWS
API call, a note, a silent look-up). One Executor prints each action and runs it, or, in a dry
run, only prints it and answers with the action's placeholder, so the plan goes on the same way.
The Terraform outputs are read once per run (again only after this run's own apply changed them),
and the resource addresses the plans target come from the module's `deploy_targets` output, not
from this package.

    plans.py          the actions, the Executor, DeployError and the exit codes
    stack.py          one run's Deployment: the Terraform outputs, targets and commands
    image.py          build (bentoml build + containerize) and push (ECR login, tag, push)
    ecs.py            roll and status: a new deployment, waiting for it, rollback detection
    commands.py       apply, destroy and all; the table of the six commands
    prerequisites.py  tools, models and credentials a real run needs
    cli.py            options, --help and main()
"""
