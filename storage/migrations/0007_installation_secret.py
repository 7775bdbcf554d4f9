from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_inbox')]

    initial = False

    operations = [
        ops.CreateModel(
            name='InstallationSecret',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('value', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'installation_secret', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A random value generated once per installation (the pseudonym key of privacy erasure).'},
            bases=['Model'],
        ),
    ]
