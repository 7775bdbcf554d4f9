from tortoise import fields, migrations
from tortoise.migrations import operations as ops


async def install_triggers(apps, schema_editor):  # type: ignore[no-untyped-def]
    from storage.config_version import install

    await install(schema_editor.client)


class Migration(migrations.Migration):
    dependencies = [('models', '0005_email')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ConfigVersion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('version', fields.BigIntField(default=0)),
            ],
            options={'table': 'config_version', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One row counting changes to the configuration tables.'},
            bases=['Model'],
        ),
        ops.RunPython(install_triggers),
    ]
